"""A manifest with a value out of range or of the wrong type (issue 13, item 12).

The bucket can be written by others, so every field of a manifest is data to check, not to
follow. A night is backed up on moto, its manifest is rewritten with one bad value, and every
command that reads it is run as a user would. A bad entry is a problem of that one document
(named); a bad header makes that one night unreadable, with a one-line reason. Either way no
traceback, the other night still restores, and a later backup still works.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docbackup import layout
from docbackup.cli.main import cli
from docbackup.cli.report_html import render
from docbackup.engine import BackupOptions, Catalog, backup, browse, restore, verify
from docbackup.errors import ConfigError, DocbackupError, ManifestError
from docbackup.sandbox.server import LocalAWS
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryStore
from tests.treebuilder import tree_hashes, write

TODAY = dt.date.today()
OLDER = TODAY - dt.timedelta(days=3)  # the night left alone
BAD = TODAY - dt.timedelta(days=2)  # the night whose manifest is rewritten
LATER = TODAY - dt.timedelta(days=1)  # the backup after it
VICTIM = "docs/b.txt"
DELETE = object()  # stands for "the field is missing"
NOT_JSON = object()  # the victim's whole line replaced by something that is not JSON


@dataclass(frozen=True)
class Raw:
    """JSON text put in as it is: what json.dumps cannot write, or Python cannot read back."""

    text: str


# An integer past Python's 4,300-digit limit (ValueError, not JSONDecodeError), and arrays
# nested deeper than the parser's recursion allows (RecursionError).
BIG_INT = Raw("9" * 5000)
DEEP = Raw("[" * 100_000 + "]" * 100_000)


@dataclass(frozen=True)
class Case:
    id: str
    where: str  # "entry" (the victim's entry) or "header"
    field: str
    value: Any


_ENTRY = [
    ("mtime_ns", 10**30),
    ("mtime_ns", -(10**30)),
    ("mtime_ns", "1700000000000000000"),
    ("mtime_ns", True),
    ("mtime_ns", 1.5),
    ("size", -1),
    ("size", 10**30),
    ("size", True),
    ("size", None),
    ("stored_at", "2025-10-15T01:00:00"),
    ("stored_at", "yesterday"),
    ("stored_at", "9999-12-31T23:59:59+00:00"),
    ("stored_at", 5),
    ("sha256", "zz"),
    ("sha256", 5),
    ("key", 5),
    ("key", None),
    ("version_id", 5),
    ("version_id", ["v"]),
    ("action", "bogus"),
    ("action", None),
    ("fingerprint", 5),
    ("path", "docs/\ud800.txt"),
    ("path", DELETE),
    ("size", DELETE),
    ("line", NOT_JSON),
    ("line", 5),
    ("sha256", "a" * 64 + "\n"),
    ("size", BIG_INT),
    ("extra", DEEP),
]
# Out of range, or not what this tool writes: a time with no zone, counts that disagree. A
# header field missing or of the wrong type was already refused before (the night listed as
# invalid); tests/hostile/test_properties.py keeps that so, for any JSON value in any field.
_HEADER = [
    ("started_at", "not a time"),
    ("started_at", "2025-10-15T02:00:00"),
    ("finished_at", "2025-10-15T02:00:00"),
    ("retention_days", -1),
    ("retention_days", 10**30),
    ("counts", {"new": -1}),
    ("counts", {"new": 10**30}),
    ("documents", 99),
    ("documents", "3"),
    ("bytes_uploaded", -1),
    ("schema_version", True),
    ("bytes", BIG_INT),
    ("extra", DEEP),
]


def _id(where: str, name: str, value: Any) -> str:
    shown = (
        "missing"
        if value is DELETE
        else "not-json"
        if value is NOT_JSON
        else f"raw-{len(value.text)}"
        if isinstance(value, Raw)
        else repr(value)
    )
    return f"{where}-{name}={shown[:24]}"


CASES = [Case(_id("entry", f, v), "entry", f, v) for f, v in _ENTRY] + [
    Case(_id("header", f, v), "header", f, v) for f, v in _HEADER
]


# -- the bucket, the tree and the rewritten nights ------------------------------------------


class Bucket:
    """One bucket and set for the module, its two nights backed up once; each test rewrites
    the newer night's manifest with its own bad value."""

    SET = "night"

    def __init__(self, aws: LocalAWS, name: str, kms: str, work: Path) -> None:
        self.aws, self.name, self.kms = aws, name, kms
        self.s3 = aws.client("s3")
        self.source = work / "office"
        # GIVEN two nights, the older with the tree as it was, the newer with one change
        for i, doc in enumerate(("a", "b", "c")):
            write(str(self.source), f"docs/{doc}.txt", f"{doc} night one ".encode() * (i + 2))
        self.older_tree = tree_hashes(str(self.source))
        assert self.night(OLDER).exit_code == 0
        write(str(self.source), "docs/c.txt", b"c changed on the bad night")
        self.bad_tree = tree_hashes(str(self.source))
        assert self.night(BAD).exit_code == 0
        self.key = layout.manifest_key(BAD, self.SET)
        self.original = self.s3.get_object(Bucket=name, Key=self.key)["Body"].read()

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(
            cli, [*args, "--bucket", self.name, "--set", self.SET], catch_exceptions=False
        )

    def night(self, date: dt.date) -> Result:
        return self.run(
            "backup",
            str(self.source),
            "--date",
            date.isoformat(),
            "--kms-key-id",
            self.kms,
            "--json",
        )

    def tamper(self, case: Case) -> None:
        """The newer night's manifest rewritten with the bad value, as anyone who may write
        to the bucket could."""
        self.s3.put_object(Bucket=self.name, Key=self.key, Body=rewrite(self.original, case))

    def forget(self, date: dt.date) -> None:
        """Every version of every object of `date`: the next test starts from the two nights."""
        pages = self.s3.get_paginator("list_object_versions").paginate(
            Bucket=self.name, Prefix=layout.date_prefix(date)
        )
        for page in pages:
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                self.s3.delete_object(Bucket=self.name, Key=v["Key"], VersionId=v["VersionId"])


def rewrite(body: bytes, case: Case) -> bytes:
    """The manifest with one value replaced, in the line layout the tool itself writes."""
    lines = body.decode("utf-8").split("\n")
    head = json.loads(lines[0] + "]}")
    entries = [json.loads(line.rstrip(",")) for line in lines[1:] if line.startswith("{")]
    tail = next(line for line in lines if line.startswith('],"failures"'))
    entry_lines = []
    for entry in entries:
        if case.where == "entry" and entry["path"] == VICTIM:
            if case.value is NOT_JSON:
                entry_lines.append('{"path": "docs/b.txt", "size": ')
                continue
            if case.field == "line":
                entry_lines.append(json.dumps(case.value))
                continue
            _set(entry, case.field, case.value)
        entry_lines.append(json.dumps(entry, separators=(",", ":")))
    if case.where == "header":
        _set(head, case.field, case.value)
        if case.field == "failures":
            tail = '],"failures":' + json.dumps(case.value) + "}"
            head.pop("failures", None)
    head.pop("entries")
    first = json.dumps(head, separators=(",", ":"))[:-1] + ',"entries":['
    text = "\n".join([first, ",\n".join(entry_lines), tail]) + "\n"
    if isinstance(case.value, Raw):
        text = text.replace(json.dumps(RAW_MARK), case.value.text)
    return text.encode("utf-8")


RAW_MARK = "@@raw@@"


def _set(doc: dict[str, Any], name: str, value: Any) -> None:
    if value is DELETE:
        doc.pop(name, None)
    elif isinstance(value, Raw):
        doc[name] = RAW_MARK
    else:
        doc[name] = value


@pytest.fixture(scope="module")
def bucket(moto: LocalAWS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bucket]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in moto.environment.items():
            mp.setenv(key, value)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("DOCBACKUP_BUCKET", raising=False)
        name = "hostile-manifest-values"
        kms = moto.create_backup_bucket(name)
        yield Bucket(moto, name, kms, tmp_path_factory.mktemp("manifest-values"))


@pytest.fixture
def night(bucket: Bucket, request: pytest.FixtureRequest) -> Bucket:
    bucket.tamper(request.getfixturevalue("case"))
    return bucket


def one_line(result: Result) -> str:
    """stderr holds messages, never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def as_json(result: Result) -> dict[str, Any]:
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


# -- every command on the rewritten night --------------------------------------------------

# Through the CLI on moto, one value of each kind (each command costs a few HTTP round trips);
# every value of CASES goes through the engine on the in-memory store below.
_SHOWN = {
    _id("entry", "mtime_ns", 10**30),
    _id("entry", "stored_at", "2025-10-15T01:00:00"),
    _id("entry", "line", NOT_JSON),
    _id("header", "retention_days", 10**30),
    _id("header", "finished_at", "2025-10-15T02:00:00"),
}
ALL_CASES = [pytest.param(c, id=c.id) for c in CASES if c.id in _SHOWN]
# A later backup already passed over a night whose header it could not read.
ENTRY_SHOWN = [pytest.param(c, id=c.id) for c in CASES if c.id in _SHOWN and c.where == "entry"]


def named(case: Case) -> str:
    """How a problem with the victim's entry names it: by path when the path can be read."""
    # A line Python cannot read back gives no path to name it by.
    unnamed = case.field in ("line", "path") or isinstance(case.value, Raw)
    return "entry 2" if unnamed else VICTIM


@pytest.mark.parametrize("case", ALL_CASES)
def test_list_says_which_night_restores(night: Bucket, case: Case) -> None:
    result = night.run("list", "--json")
    one_line(result)
    assert result.exit_code == 0
    nights = {s["date"]: s for s in as_json(result)["snapshots"]}
    # THEN the rewritten night is not called restorable, with its reason, and the other is
    bad = nights[BAD.isoformat()]
    assert bad["restorable"] is False and "\n" not in bad["note"]
    if case.where == "entry":
        assert named(case) in bad["note"]
    else:
        assert bad["status"] == "invalid"
    assert nights[OLDER.isoformat()]["restorable"] is True
    text = night.run("list")
    one_line(text)
    assert text.exit_code == 0 and BAD.isoformat() in text.stdout


@pytest.mark.parametrize("case", ALL_CASES)
def test_restore_fails_only_what_cannot_be_trusted(
    night: Bucket, case: Case, tmp_path: Path
) -> None:
    target = tmp_path / "restored"
    result = night.run("restore", BAD.isoformat(), "--to", str(target))
    err = one_line(result)
    assert result.exit_code == 1
    if case.where == "entry":
        # THEN the one document is failed by name, and every other one is restored
        assert named(case) in result.stdout + err
        got = tree_hashes(str(target))
        want = {p: h for p, h in night.bad_tree.items() if p != VICTIM}
        assert {p: h for p, h in got.items() if p != VICTIM} == want
        assert VICTIM not in got or got[VICTIM] == night.bad_tree[VICTIM]
    else:
        # THEN the night is refused with its reason, and nothing is written
        assert err.count("\n") == 1 and BAD.isoformat() in err
        assert not target.exists() or not any(target.iterdir())
    # AND the other night restores in full
    other = tmp_path / "other"
    again = night.run("restore", OLDER.isoformat(), "--to", str(other))
    one_line(again)
    assert again.exit_code == 0, again.output
    assert tree_hashes(str(other)) == night.older_tree


@pytest.mark.parametrize("case", ALL_CASES)
def test_restore_json_names_the_problem(night: Bucket, case: Case, tmp_path: Path) -> None:
    target = tmp_path / "restored"
    result = night.run("restore", BAD.isoformat(), "--to", str(target), "--json")
    one_line(result)
    assert result.exit_code == 1
    doc = as_json(result)
    if case.where == "entry":
        assert doc["status"] == "partial" and doc["restored"] == len(night.bad_tree) - 1
        assert named(case) in json.dumps(doc["failures"], ensure_ascii=False)
    else:
        assert doc["status"] == "failed" and BAD.isoformat() in doc["error"]


@pytest.mark.parametrize("case", ALL_CASES)
def test_verify_reports_the_night(night: Bucket, case: Case) -> None:
    result = night.run("verify", BAD.isoformat(), "--json")
    one_line(result)
    assert result.exit_code == 1
    doc = as_json(result)
    if case.where == "entry":
        problems = doc["problems"]
        assert [p for p in problems if named(case) in p["path"]], problems
        assert doc["checked"] == len(night.bad_tree) - 1
    else:
        assert doc["status"] == "failed" and BAD.isoformat() in doc["error"]
    # AND verify --all checks the other night and names this one
    every = night.run("verify", "--all", "--json")
    one_line(every)
    assert every.exit_code == 1
    problems = as_json(every)["problems"]
    assert problems and all(p["date"] == BAD.isoformat() for p in problems), problems


@pytest.mark.parametrize("case", ALL_CASES)
def test_ls_and_find_show_the_rest(night: Bucket, case: Case) -> None:
    listing = night.run("ls", BAD.isoformat(), "docs", "--json")
    err = one_line(listing)
    # THEN what cannot be trusted is said and left out, and the exit code says the listing
    # is not the whole night
    assert listing.exit_code == 1
    if case.where == "entry":
        doc = as_json(listing)
        assert {e["name"] for e in doc["entries"]} == {"a.txt", "c.txt"}
        assert named(case) in err and named(case) in " ".join(doc["unreadable"])
        text = night.run("ls", BAD.isoformat())
        assert named(case) in one_line(text) and "docs/" in text.stdout
        assert text.exit_code == 1
    else:
        assert BAD.isoformat() in err and err.count("\n") == 1
    compared = night.run("diff", OLDER.isoformat(), BAD.isoformat(), "--json")
    assert compared.exit_code == 1
    assert (named(case) if case.where == "entry" else BAD.isoformat()) in one_line(compared)
    found = night.run("find", "*.txt", "--json")
    err = one_line(found)
    assert found.exit_code == 1
    # AND every other night is searched
    doc = as_json(found)
    nights = {n for f in doc["documents"] for v in f["versions"] for n in v["nights"]}
    assert OLDER.isoformat() in nights
    assert {f["path"] for f in doc["documents"]} == {"docs/a.txt", "docs/b.txt", "docs/c.txt"}
    assert BAD.isoformat() in err and BAD.isoformat() in " ".join(doc["unreadable"])
    text = night.run("find", "a.txt")
    one_line(text)
    assert text.exit_code == 1 and "docs/a.txt" in text.stdout


@pytest.mark.parametrize("case", ALL_CASES)
def test_report_page_is_written(night: Bucket, case: Case, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = night.run("report", "--html", str(page))
    one_line(result)
    assert result.exit_code == 0 and page.exists()
    # THEN the page says why the night does not restore: the document, or the night
    text = page.read_text(encoding="utf-8")
    assert BAD.isoformat() in text
    assert (named(case) if case.where == "entry" else "unreadable header") in text


@pytest.mark.parametrize("case", ENTRY_SHOWN)
def test_a_later_backup_sends_again_what_it_cannot_trust(
    night: Bucket, case: Case, tmp_path: Path
) -> None:
    # WHEN the next night is backed up from the same source
    try:
        _later_night(night, case, tmp_path)
    finally:
        night.forget(LATER)


def _later_night(night: Bucket, case: Case, tmp_path: Path) -> None:
    result = night.night(LATER)
    one_line(result)
    assert result.exit_code == 0, result.output
    doc = as_json(result)
    assert doc["status"] == "complete"
    if case.where == "entry":
        # THEN the document whose entry is bad is sent again, not pointed at
        assert (doc["new"], doc["unchanged"]) == (1, len(night.bad_tree) - 1)
    # AND the new night restores byte for byte
    target = tmp_path / "later"
    restored = night.run("restore", LATER.isoformat(), "--to", str(target))
    assert restored.exit_code == 0, restored.output
    assert tree_hashes(str(target)) == night.bad_tree


# -- every value, every command, through the engine on the in-memory store ----------------


def _engine_night(store: MemoryStore, src: Path, date: dt.date) -> None:
    options = BackupOptions(date=date, encryption=Encryption("aws:kms"), workers=2)
    result = backup(store, LocalSource(str(src)), options)
    assert result.status == "complete", result


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_every_value_is_reported_not_followed(
    store: MemoryStore, tmp_path: Path, case: Case
) -> None:
    # GIVEN two nights, the newer one's manifest holding the bad value
    src = tmp_path / "office"
    for i, doc in enumerate(("a", "b", "c")):
        write(str(src), f"docs/{doc}.txt", f"{doc} night one ".encode() * (i + 2))
    older_tree = tree_hashes(str(src))
    _engine_night(store, src, OLDER)
    write(str(src), "docs/c.txt", b"c changed on the bad night")
    bad_tree = tree_hashes(str(src))
    _engine_night(store, src, BAD)
    key = layout.manifest_key(BAD, "documents")
    with store.open(key) as body:
        data = rewrite(body.read(), case)
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    store.put(key, data, sha256_b64=sha, metadata={}, encryption=Encryption("aws:kms"))
    entry = case.where == "entry"
    catalog = Catalog(store, "documents")

    # list and the report: the night is not restorable, with its reason; the other one is
    nights = catalog.snapshots(now=dt.datetime.now(dt.UTC))
    by_date = {n.date: n for n in nights}
    assert not by_date[BAD].restorable and by_date[OLDER].restorable
    assert by_date[BAD].note and "\n" not in by_date[BAD].note
    assert (named(case) in by_date[BAD].note) if entry else by_date[BAD].status == "invalid"
    page = render(
        nights,
        bucket="backups",
        set_name="documents",
        retention_days=30,
        today=TODAY,
        generated_at=dt.datetime.now(dt.UTC),
    )
    assert BAD.isoformat() in page

    # restore and verify: the one document is failed by name, or the night with its reason
    if entry:
        got = restore(store, "documents", BAD.isoformat(), str(tmp_path / "bad"))
        assert (got.status, got.restored) == ("partial", 2)
        assert [p.path for p in got.failures] == [named(case)]
        restored = tree_hashes(str(tmp_path / "bad"))
        assert restored == {p: h for p, h in bad_tree.items() if p != VICTIM}
        checked = verify(store, "documents", BAD.isoformat())
        assert checked.status == "mismatch" and checked.checked == 2
        assert [(p.date, p.path) for p in checked.mismatches] == [(BAD, named(case))]
        _, rows, unreadable = browse.ls(store, "documents", BAD.isoformat(), "docs")
        assert [r.name for r in rows] == ["a.txt", "c.txt"] and named(case) in unreadable[0]
        _, _, changes, left_out = browse.diff(store, "documents", str(OLDER), str(BAD))
        # (the document left out shows as removed, and the warning says why)
        assert {(c.path, c.kind) for c in changes} == {
            ("docs/c.txt", "changed"),
            (VICTIM, "removed"),
        }
        assert len(left_out) == 1 and named(case) in left_out[0]
        out = io.BytesIO()
        with pytest.raises(DocbackupError, match="cannot be trusted") as refused:
            browse.cat(store, "documents", BAD.isoformat(), named(case), out)
        assert not isinstance(refused.value, ConfigError) and out.getvalue() == b""
    else:
        for command in (
            lambda: restore(store, "documents", BAD.isoformat(), str(tmp_path / "bad")),
            lambda: verify(store, "documents", BAD.isoformat()),
            lambda: browse.ls(store, "documents", BAD.isoformat()),
        ):
            with pytest.raises(ManifestError, match=BAD.isoformat()) as raised:
                command()
            assert "\n" not in str(raised.value)
        assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    every = verify(store, "documents", None, all_dates=True)
    assert every.mismatches and all(p.date == BAD for p in every.mismatches)
    found, unreadable = browse.find(store, "documents", "*.txt")
    assert [f.path for f in found] == sorted(older_tree)
    assert len(unreadable) == 1 and str(BAD) in unreadable[0]

    # the other night restores in full, and a later night is backed up and restores
    other = restore(store, "documents", OLDER.isoformat(), str(tmp_path / "older"))
    assert other.status == "complete" and tree_hashes(str(tmp_path / "older")) == older_tree
    options = BackupOptions(date=LATER, encryption=Encryption("aws:kms"), workers=2)
    later = backup(store, LocalSource(str(src)), options)
    assert later.status == "complete", later
    if entry:
        assert (later.new, later.unchanged) == (1, 2)  # the bad entry's document sent again
    again = restore(store, "documents", LATER.isoformat(), str(tmp_path / "later"))
    assert again.status == "complete" and tree_hashes(str(tmp_path / "later")) == bad_tree
