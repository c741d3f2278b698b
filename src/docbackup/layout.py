"""Where things live in the backup bucket.

    backups/<YYYY-MM-DD>/<set>/<relative path>     a stored copy of one document
    backups/<YYYY-MM-DD>/<set>.<n>/<relative path> a later copy, stored by a rerun of the night
    backups/<YYYY-MM-DD>/<set>.manifest.json       that night's manifest for the set
    backups/<YYYY-MM-DD>/<set>.retired.json        the set was retired that day (not watched)
    backups/<YYYY-MM-DD>/<set>.stale.json          the set was stale that night (still watched)

A set name may not contain a dot or a slash, so `<set>.manifest.json` can never be the first
component of a document key in any set: manifests and documents cannot collide.

A rerun of a night never writes over a key that the night's manifest points at: in a bucket
without versioning that would destroy the only copy the manifest lists, and a rerun killed
before its own manifest would leave a night that no longer restores. Such a copy goes to
`<set>.<n>/` instead, n = 2, 3, ... (one more than the copy the manifest lists). `<set>.<n>`
holds a dot, so it is no set's own folder, and digits, so it is neither a manifest nor a lease.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from docbackup.errors import ConfigError

ROOT = "backups/"
MANIFEST_SUFFIX = ".manifest.json"
DEFAULT_SET = "documents"
# S3 refuses keys longer than 1,024 bytes of UTF-8.
MAX_KEY_BYTES = 1024

_SET_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What follows `backups/<date>/<set>` in a document key: `/` for the night's first copy, or
# `.<n>/` (n >= 2, no leading zero) for a later one.
_GENERATION_RE = re.compile(r"^(?:\.([2-9]|[1-9][0-9]{1,5}))?/")


def check_set_name(name: str) -> str:
    if not _SET_RE.fullmatch(name):
        raise ConfigError(
            f"invalid set name {name!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def set_for_prefix(prefix: str) -> str:
    """The set that holds one top-level prefix of a fanned-out source: its name made fit for a
    set (lowercase, other characters as '-') and a digest of the prefix itself, so that two
    prefixes that read alike ("Invoices/" and "invoices/") never share a set, and the same
    prefix names the same set every night."""
    name = prefix.rstrip("/").rsplit("/", 1)[-1].lower()
    readable = re.sub(r"[^a-z0-9_-]+", "-", name).strip("-_")[:40] or "prefix"
    digest = hashlib.sha256(prefix.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return check_set_name(f"{readable}-{digest}")


def parse_date(text: str) -> dt.date:
    """A snapshot date, strictly YYYY-MM-DD."""
    if not _DATE_RE.fullmatch(text):
        raise ConfigError(f"invalid date {text!r}: expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"invalid date {text!r}: no such day") from None


def date_prefix(date: dt.date) -> str:
    return f"{ROOT}{date.isoformat()}/"


def snapshot_prefix(date: dt.date, set_name: str) -> str:
    return f"{date_prefix(date)}{set_name}/"


def document_key(date: dt.date, set_name: str, path: str, generation: int = 1) -> str:
    """The key of a document's copy; generation 2, 3, ... for the copies a rerun of the night
    stores beside the ones its manifest already lists."""
    if generation == 1:
        return snapshot_prefix(date, set_name) + path
    return f"{date_prefix(date)}{set_name}.{generation}/{path}"


def generation_of(key: str, date: dt.date, set_name: str, path: str) -> int | None:
    """Which copy of `path` in this set and night `key` is (1, 2, ...), or None when it is
    not one of them."""
    head = f"{date_prefix(date)}{set_name}"
    if not key.startswith(head) or not key.endswith(path):
        return None
    match = _GENERATION_RE.match(key[len(head) :])
    if match is None or match.end() != len(key) - len(head) - len(path):
        return None
    return int(match.group(1) or 1)


def is_copy_of_set(key: str, date: dt.date, set_name: str) -> bool:
    """Is `key` a document copy of this set and night, of any generation?"""
    head = f"{date_prefix(date)}{set_name}"
    return key.startswith(head) and _GENERATION_RE.match(key[len(head) :]) is not None


def date_of_key(key: str) -> dt.date | None:
    """The night a key lies under (`backups/<date>/...`), or None for any other key."""
    end = len(ROOT) + 10
    return date_from_prefix(key[: end + 1]) if key[end : end + 1] == "/" else None


def copies_prefix(date: dt.date, set_name: str) -> str:
    """A prefix under which every copy of this set and night lies (with other sets' keys whose
    name starts the same: filter with is_copy_of_set)."""
    return f"{date_prefix(date)}{set_name}"


def manifest_key(date: dt.date, set_name: str) -> str:
    return f"{date_prefix(date)}{set_name}{MANIFEST_SUFFIX}"


def lease_key(date: dt.date, set_name: str) -> str:
    """Who is backing up this set and night right now (see docbackup.engine.lease)."""
    return f"{date_prefix(date)}{set_name}{LEASE_SUFFIX}"


RETIRED_SUFFIX = ".retired.json"
STALE_SUFFIX = ".stale.json"
LEASE_SUFFIX = ".lease.json"


def retired_key(date: dt.date, set_name: str) -> str:
    """`docbackup set retire`: from this day the set is meant to stop (see engine.watch)."""
    return f"{date_prefix(date)}{set_name}{RETIRED_SUFFIX}"


def stale_key(date: dt.date, set_name: str) -> str:
    """The function's note that the set was stale that night: it keeps a set whose nights
    have all expired in view (see engine.watch)."""
    return f"{date_prefix(date)}{set_name}{STALE_SUFFIX}"


def set_of(name: str) -> str | None:
    """The set a name directly under `backups/<date>/` belongs to: a folder `<set>/` or
    `<set>.<n>/`, or an object `<set>.manifest.json`, `<set>.lease.json`, `<set>.retired.json`
    or `<set>.stale.json`; None for anything else."""
    if name.endswith("/"):
        base, _, generation = name[:-1].partition(".")
        if generation and _GENERATION_RE.match(f".{generation}/") is None:
            return None
    else:
        for suffix in (MANIFEST_SUFFIX, LEASE_SUFFIX, RETIRED_SUFFIX, STALE_SUFFIX):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                break
        else:
            return None
    return base if _SET_RE.fullmatch(base) else None


def date_from_prefix(prefix: str) -> dt.date | None:
    """`backups/2025-10-15/` -> 2025-10-15; anything else -> None."""
    if not prefix.startswith(ROOT):
        return None
    text = prefix[len(ROOT) :].rstrip("/")
    if not _DATE_RE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def key_problem(key: str) -> str | None:
    """Why S3 would refuse this key, or None when it is storable."""
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "file name is not valid UTF-8 and cannot be an S3 key"
    if size > MAX_KEY_BYTES:
        return f"key would be {size} bytes, over S3's {MAX_KEY_BYTES}-byte limit"
    return None
