"""A night that found copies gone from the bucket tells a person, even when it is complete."""

from __future__ import annotations

import datetime as dt

from docbackup import notices
from docbackup.engine.results import BackupResult, Problem


def result(**extra: object) -> BackupResult:
    base: dict[str, object] = {
        "status": "complete",
        "date": dt.date(2026, 12, 2),
        "set": "documents",
        "documents": 2,
        "new": 0,
        "changed": 0,
        "unchanged": 1,
        "refreshed": 0,
        "failed": 0,
        "bytes_uploaded": 0,
        "total_bytes": 10,
        "duration_s": 1.0,
        "manifest_key": "backups/2026-12-02/documents.manifest.json",
        "dry_run": False,
        "failures": (),
        "skipped": (),
    }
    return BackupResult(**{**base, **extra})  # type: ignore[arg-type]


def test_a_complete_night_that_healed_a_lost_copy_sends_a_notice_naming_it() -> None:
    lost = Problem("contracts/lease.pdf", "its copy is gone from the bucket (backups/...)")
    healed = result(healed=1, lost=(lost,))

    assert notices.due(healed, on_success=False)
    text = notices.message(healed)
    assert "1 healed" in text
    assert "copy gone from the bucket: contracts/lease.pdf: its copy is gone" in text


def test_a_quiet_complete_night_sends_none_unless_asked() -> None:
    assert not notices.due(result(), on_success=False)
    assert notices.due(result(), on_success=True)


def test_a_damaged_copy_and_a_stale_set_each_send_a_notice_naming_them() -> None:
    from docbackup.engine.results import SetState, WatchResult

    at = dt.datetime(2026, 12, 2, 2, 5, tzinfo=dt.UTC)
    office = SetState(
        "office",
        dt.date(2026, 11, 30),
        at - dt.timedelta(hours=49),
        dt.date(2026, 11, 30),
        retired=False,
        stale=True,
    )
    night = result(
        damaged=(Problem("a.pdf", "its stored copy is damaged: ...; no good copy is left (k)"),),
        watched=WatchResult(at, (office,)),
    )

    assert notices.due(night, on_success=False)
    assert notices.subject(night) == (
        "docbackup documents 2026-12-02: complete; 1 copies damaged; stale: office"
    )
    text = notices.message(night)
    assert "DAMAGED, no good copy: a.pdf" in text
    assert "STALE set office: no complete night for 49 hours (last complete 2026-11-30" in text
    assert not notices.due(result(watched=WatchResult(at, ())), on_success=False)
    assert notices.due(result(watch_error="could not look: refused"), on_success=False)


def test_a_night_that_found_a_copy_beyond_repair_exits_1_though_complete() -> None:
    from docbackup.cli import exitcodes

    damaged = result(damaged=(Problem("a.pdf", "damaged; no good copy is left (k)"),))
    assert exitcodes.for_backup(damaged) == 1
    assert exitcodes.for_backup(result()) == 0
