"""What a notice on the stack's topic says: one text for the nightly function and the office
machine, so a person reading mail from both reads one format."""

from __future__ import annotations

from docbackup.engine import BackupResult

# SNS refuses a subject longer than this.
SUBJECT_LIMIT = 100
# A night with thousands of failures still fits one mail; the manifest lists them all.
FAILURES_SHOWN = 20


def subject(r: BackupResult) -> str:
    text = f"docbackup {r.set} {r.date}: {r.status}"
    if r.damaged:
        text += f"; {len(r.damaged)} copies damaged"
    if r.watched is not None and r.watched.stale:
        text += f"; stale: {', '.join(s.name for s in r.watched.stale)}"
    return text[:SUBJECT_LIMIT]


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
    # The worst a read-back can find: the stored bytes are wrong and the source has changed.
    lines += [f"DAMAGED, no good copy: {p.path}: {p.reason}" for p in r.damaged[:FAILURES_SHOWN]]
    if r.read_back:
        lines.append(_read_back_line(r.read_back))
    if r.watched is not None:
        # Another machine's set, most often: the only place anyone hears it stopped.
        lines += [f"STALE {s.said(r.watched.checked_at)}" for s in r.watched.stale]
    if r.watch_error:
        lines.append(r.watch_error)
    if r.watched is not None:
        lines += [
            f"could not read {p.path}: {p.reason}" for p in r.watched.problems[:FAILURES_SHOWN]
        ]
    if r.error:
        lines.append(f"stopped: {r.error}")
    return "\n".join(lines)


def _read_back_line(rb: dict[str, object]) -> str:
    line = f"read back {rb['read']} stored copies ({rb['bytes_read']} bytes) of {rb['due']} due"
    if rb.get("left"):
        line += f"; {rb['left']} left for want of budget or time"
    unread = rb.get("unread")
    if isinstance(unread, list) and unread:
        first = unread[0]
        line += f"; {len(unread)} could not be read ({first['path']}: {first['reason']})"
    return line


def due(r: BackupResult, *, on_success: bool) -> bool:
    """A notice goes for every night but a complete one, and for that one too when asked or
    when it found copies gone from the bucket or damaged, or a set that stopped."""
    stale = r.watched is not None and bool(r.watched.stale)
    unread = bool(r.read_back and r.read_back.get("unread"))
    return (
        r.status != "complete"
        or on_success
        or bool(r.lost)
        or bool(r.damaged)
        or stale
        or unread
        or r.watch_error is not None
    )


def failed_subject(set_name: str) -> str:
    """A set whose night ended in an error before it had a result (its folder unmounted, say):
    no result to describe."""
    return f"docbackup {set_name}: failed"[:SUBJECT_LIMIT]


def failed_message(set_name: str, error: BaseException) -> str:
    return f"{set_name}: {error}"
