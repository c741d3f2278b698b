"""What a notice on the stack's topic says: one text for the nightly function and the office
machine, so a person reading mail from both reads one format."""

from __future__ import annotations

from docbackup.engine import BackupResult

# SNS refuses a subject longer than this.
SUBJECT_LIMIT = 100
# A night with thousands of failures still fits one mail; the manifest lists them all.
FAILURES_SHOWN = 20


def subject(r: BackupResult) -> str:
    return f"docbackup {r.set} {r.date}: {r.status}"[:SUBJECT_LIMIT]


def message(r: BackupResult) -> str:
    lines = [
        f"{r.date} {r.set}: {r.status}",
        f"{r.documents} documents: {r.new} new, {r.changed} changed, {r.unchanged} unchanged, "
        f"{r.refreshed} refreshed, {r.failed} failed"
        + (f", {r.resent} resent (archived copies)" if r.resent else "")
        + (f", {r.healed} healed (copies gone from the bucket)" if r.healed else ""),
        f"{r.bytes_uploaded} bytes uploaded in {r.duration_s:.1f} s",
    ]
    lines += [f"not stored: {p.path}: {p.reason}" for p in r.failures[:FAILURES_SHOWN]]
    # A copy gone from the bucket means someone or something deletes there: a person must know
    # even when the night healed it.
    lines += [f"copy gone from the bucket: {p.path}: {p.reason}" for p in r.lost[:FAILURES_SHOWN]]
    if r.error:
        lines.append(f"stopped: {r.error}")
    return "\n".join(lines)


def due(r: BackupResult, *, on_success: bool) -> bool:
    """A notice goes for every night but a complete one, and for that one too when asked or
    when it found copies gone from the bucket."""
    return r.status != "complete" or on_success or bool(r.lost)


def failed_subject(set_name: str) -> str:
    """A set whose night ended in an error before it had a result (its folder unmounted, say):
    no result to describe."""
    return f"docbackup {set_name}: failed"[:SUBJECT_LIMIT]


def failed_message(set_name: str, error: BaseException) -> str:
    return f"{set_name}: {error}"
