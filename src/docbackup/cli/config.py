"""The office agent's config file: one TOML file that `docbackup init` writes from the stack.

Every command reads it through click's `default_map`, so the order of precedence is click's own:
a flag, then its environment variable, then the config file, then the built-in default.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docbackup import atomic, layout, places
from docbackup.cost.workload import parse_size
from docbackup.engine.options import MIN_RETENTION_DAYS
from docbackup.errors import ConfigError
from docbackup.storage.throttle import parse_rate

ENV = "DOCBACKUP_CONFIG"


def default_path() -> str:
    """`config.toml` in the platform's config folder (`places.config_file`)."""
    return str(places.config_file())


@dataclass(frozen=True, slots=True)
class SetConfig:
    """One set: where its documents are and what to leave out."""

    name: str
    source: str  # a folder on this machine, or s3://bucket/prefix
    exclude: tuple[str, ...] = ()
    default_excludes: bool = True
    # False for the set the stack's own nightly function backs up: `docbackup run` skips it.
    here: bool = True
    # The set's folder moved on purpose: `run` backs the new one up into the set's nights
    # (as `backup --allow-new-source` does) instead of refusing it.
    allow_new_source: bool = False

    def to_toml(self) -> dict[str, Any]:
        if not self.here and not self.exclude and not self.default_excludes:
            # The function's set as init writes it: nothing to say beyond where it reads.
            return {"source": self.source, "here": False}
        body = {
            "source": self.source,
            "exclude": list(self.exclude),
            "default_excludes": self.default_excludes,
            "here": self.here,
        }
        return body | ({"allow_new_source": True} if self.allow_new_source else {})


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    stack_name: str | None = None
    region: str | None = None
    bucket: str | None = None
    kms_key_id: str | None = None
    retention_days: int | None = None
    timezone: str | None = None
    alarm_topic_arn: str | None = None
    notify_on_success: bool = False
    sets: dict[str, SetConfig] = field(default_factory=dict)
    # Back up into a bucket without versioning (`backup` and `run`), as --allow-unversioned.
    allow_unversioned: bool = False
    # Stored bytes to read back and re-hash each night (`backup` and `run`), as --read-back:
    # off unless set, since the office's uplink pays for the reads.
    read_back: str | None = None
    # A cap on the bytes a backup sends a second (`backup` and `run`), as --limit-upload.
    limit_upload: str | None = None

    def to_toml(self) -> dict[str, Any]:
        stack = {
            "name": self.stack_name,
            "region": self.region,
            "bucket": self.bucket,
            "kms_key_id": self.kms_key_id,
            "retention_days": self.retention_days,
            "timezone": self.timezone,
            "alarm_topic_arn": self.alarm_topic_arn,
            "allow_unversioned": self.allow_unversioned or None,
            "read_back": self.read_back,
            "limit_upload": self.limit_upload,
        }
        return {
            "stack": {k: v for k, v in stack.items() if v is not None},
            "notify": {"on_success": self.notify_on_success},
            "sets": {name: s.to_toml() for name, s in self.sets.items()},
        }

    def set_named(self, name: str) -> SetConfig:
        try:
            return self.sets[name]
        except KeyError:
            known = ", ".join(sorted(self.sets)) or "none"
            raise ConfigError(
                f"set {name!r} is not in {self.path} (sets there: {known}); "
                "add it with `docbackup init --set NAME=FOLDER`"
            ) from None

    def check_retention(self) -> None:
        """For the commands that use it only: a restore at disaster time must not be refused
        over a setting it never reads."""
        if self.retention_days is not None and self.retention_days < MIN_RETENTION_DAYS:
            raise ConfigError(
                f"config file {self.path}: stack.retention_days is {self.retention_days}, at "
                f"least {MIN_RETENTION_DAYS} is needed (a copy is refreshed a day before it "
                "expires)"
            )

    def default_map(self) -> dict[str, dict[str, Any]]:
        """Per-command defaults for click: only what the file sets."""
        common: dict[str, Any] = {}
        if self.bucket:
            common["bucket"] = self.bucket
        stack: dict[str, Any] = {"stack_name": self.stack_name} if self.stack_name else {}
        backup = dict(common)
        if self.kms_key_id:
            backup["kms_key_id"] = self.kms_key_id
        if self.retention_days:
            backup["retention_days"] = self.retention_days
        if self.timezone:
            backup["timezone"] = self.timezone
        if self.allow_unversioned:
            backup["allow_unversioned"] = True
        if self.read_back:
            backup["read_back"] = self.read_back
        if self.limit_upload:
            backup["limit_upload"] = self.limit_upload
        retention = {"retention_days": self.retention_days} if self.retention_days else {}
        # The default set: the first this machine backs up, else the first there is.
        ordered = sorted(self.sets.values(), key=lambda s: not s.here)
        with_sets = {**common, **({"set_name": ordered[0].name} if ordered else {})}
        retire = {
            k: v for k, v in backup.items() if k in ("bucket", "kms_key_id", "timezone")
        } | retention
        return {
            "set": {"retire": retire},
            "backup": {**backup, **with_sets},
            "run": backup,
            "list": with_sets,
            "restore": with_sets,
            "ui": {**with_sets, **stack, **retention},
            "verify": with_sets,
            "ls": with_sets,
            "find": with_sets,
            "diff": with_sets,
            "cat": with_sets,
            "report": {**with_sets, **stack, **retention},
            # `status` is the stack's view: its own function's set unless --set says otherwise.
            "status": stack,
            "deploy": stack,
        }


_STACK_KEYS = {
    "name",
    "region",
    "bucket",
    "kms_key_id",
    "retention_days",
    "timezone",
    "alarm_topic_arn",
    "allow_unversioned",
    "read_back",
    "limit_upload",
}
_SET_KEYS = {"source", "exclude", "default_excludes", "here", "allow_new_source"}


def load(path: str | None) -> Config | None:
    """The config at `path` (or the default place); None when there is none at the default
    place. A file named explicitly must exist."""
    explicit = path is not None
    path = path or default_path()
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                f"config file {path} does not exist; `docbackup init` writes one"
            ) from None
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    return parse(raw, path)


def parse(raw: Mapping[str, Any], path: str) -> Config:
    def table(value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config file {path}: [{where}] must be a table")
        return value

    def typed(value: object, kind: type, where: str) -> Any:
        # bool is an int to Python, not to a reader of the file.
        if value is not None and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        ):
            raise ConfigError(f"config file {path}: {where} must be a {kind.__name__}")
        return value

    def known(body: Mapping[str, Any], keys: set[str], where: str) -> None:
        # A misspelt key (`excludes`) would otherwise be ignored and its intent lost quietly.
        unknown = sorted(set(body) - keys)
        if unknown:
            raise ConfigError(
                f"config file {path}: unknown key(s) {unknown} in {where} "
                f"(known: {', '.join(sorted(keys))})"
            )

    known(raw, {"stack", "notify", "sets"}, "the file")
    stack = table(raw.get("stack", {}), "stack")
    known(stack, _STACK_KEYS, "[stack]")
    notify = table(raw.get("notify", {}), "notify")
    known(notify, {"on_success"}, "[notify]")
    sets: dict[str, SetConfig] = {}
    for name, body in table(raw.get("sets", {}), "sets").items():
        body = table(body, f"sets.{name}")
        known(body, _SET_KEYS, f"[sets.{name}]")
        try:
            layout.check_set_name(name)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        source = typed(body.get("source"), str, f"sets.{name}.source")
        if not source:
            raise ConfigError(f"config file {path}: sets.{name} has no source")
        exclude = typed(body.get("exclude", []), list, f"sets.{name}.exclude")
        here = typed(body.get("here", True), bool, f"sets.{name}.here")
        if not all(isinstance(p, str) for p in exclude):
            raise ConfigError(f"config file {path}: sets.{name}.exclude must be strings")
        sets[name] = SetConfig(
            name,
            source,
            tuple(exclude),
            # Default excludes are a desktop's: on for this machine's sets, off for the
            # function's, which keeps everything under its prefix.
            typed(body.get("default_excludes", here), bool, f"sets.{name}.default_excludes"),
            here,
            typed(body.get("allow_new_source", False), bool, f"sets.{name}.allow_new_source"),
        )
    retention = typed(stack.get("retention_days"), int, "stack.retention_days")
    read_back = typed(stack.get("read_back"), str, "stack.read_back")
    if read_back is not None:
        try:
            read_back_bytes(read_back)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: stack.read_back: {exc}") from None
    limit_upload = typed(stack.get("limit_upload"), str, "stack.limit_upload")
    if limit_upload is not None:
        try:
            upload_rate(limit_upload)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: stack.limit_upload: {exc}") from None
    return Config(
        path=path,
        stack_name=typed(stack.get("name"), str, "stack.name"),
        region=typed(stack.get("region"), str, "stack.region"),
        bucket=typed(stack.get("bucket"), str, "stack.bucket"),
        kms_key_id=typed(stack.get("kms_key_id"), str, "stack.kms_key_id"),
        retention_days=retention,
        timezone=typed(stack.get("timezone"), str, "stack.timezone"),
        alarm_topic_arn=typed(stack.get("alarm_topic_arn"), str, "stack.alarm_topic_arn"),
        notify_on_success=typed(notify.get("on_success", False), bool, "notify.on_success"),
        sets=sets,
        allow_unversioned=typed(
            stack.get("allow_unversioned", False), bool, "stack.allow_unversioned"
        ),
        read_back=read_back,
        limit_upload=limit_upload,
    )


def read_back_bytes(text: str) -> int:
    """The nightly read-back budget: "0" or "off" for none, else a size (500MB, 2GiB)."""
    if text.strip().lower() in ("0", "off", "none"):
        return 0
    return parse_size(text)


def upload_rate(text: str | None) -> float | None:
    """The upload cap in bytes a second: None for none ("", "0", "off"), else a rate."""
    if text is None or text.strip().lower() in ("", "0", "off", "none"):
        return None
    return parse_rate(text)


def save(config: Config, *, now: dt.datetime) -> None:
    """Write atomically (`atomic.write_text`), readable by the user only:
    the file names the bucket and key, not secrets, but it is nobody else's business."""
    import tomli_w

    os.makedirs(os.path.dirname(os.path.abspath(config.path)), exist_ok=True)
    header = (
        f"# docbackup configuration, written by `docbackup init` on {now:%Y-%m-%d %H:%M %Z}.\n"
        "# Flags and DOCBACKUP_* environment variables override what is here.\n"
    )
    atomic.write_text(config.path, header + tomli_w.dumps(config.to_toml()), mode=0o600)
