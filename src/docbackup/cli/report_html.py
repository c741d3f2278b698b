"""`docbackup report --html`: one self-contained HTML page about a set's nights.

The page loads nothing from the network (a Content-Security-Policy forbids it), so it can be
mailed, archived or opened offline and still show everything. The charts are drawn in the
browser from the nights embedded as JSON; a plain table carries the same figures for print,
for readers without JavaScript, and for anyone who wants the numbers.

This module works out what the page says; the markup is `templates/report.html.j2`, with the
style and the script (`report.css`, `report.js`) inlined into it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from docbackup.cli.render import checked, human_bytes
from docbackup.engine.results import SetState, SnapshotInfo, WatchResult

# Jinja2 is imported when a page is drawn: every other command loads this module (the command
# group registers them all) and never pays for it.
if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

CHART_DAYS = 30
# The missed-night alarm fires after 26 hours without a run; the page's verdict agrees with it.
STALE_AFTER = dt.timedelta(hours=26)

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class Cell:
    """One date of the retention timeline."""

    date: str
    day: str
    state: str  # the css class: full, partial, gone, invalid or missing
    word: str
    until: str
    # A run of dates with no run is one cell: its last date, and how many (1 for a day).
    last: str = ""
    nights: int = 1


@dataclass(frozen=True)
class Row:
    """One date of the nights table; `status` None for a date with no run."""

    date: str
    status: str | None
    figures: Mapping[str, str]
    until: str = ""
    classes: str = ""
    note: str = ""
    checked: str = ""
    nights: int = 1  # several dates in a row with no run are one row


def render(
    nights: Sequence[SnapshotInfo],
    *,
    bucket: str,
    set_name: str,
    retention_days: int,
    today: dt.date,
    generated_at: dt.datetime,
    alarms: Mapping[str, str] | None = None,
    watched: WatchResult | None = None,
) -> str:
    """The whole page. `nights` newest first, as Catalog.snapshots() returns them; `watched`,
    every set of the bucket and which have stopped (engine.watch)."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, not {retention_days}")
    by_date = {n.date: n for n in nights}
    days = [today - dt.timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    charted = [by_date[d] for d in days if d in by_date]
    verdict_ok, verdict = _verdict(nights, generated_at)
    window = [today - dt.timedelta(days=retention_days - 1 - i) for i in range(retention_days)]
    cells = _summarised([_cell(d, by_date.get(d), today) for d in window])
    restorable = [n.date for n in nights if _day_state(n, today)[0] == "full"]
    page = templates().get_template("report.html.j2")
    return page.render(
        csp=CSP,
        bucket=bucket,
        set_name=set_name,
        generated=generated_at.strftime("%Y-%m-%d %H:%M %Z").strip(),
        verdict_ok=verdict_ok,
        verdict=verdict,
        chart_days=CHART_DAYS,
        charted=bool(charted),
        retention_days=retention_days,
        cells=cells,
        full=sum(c.state == "full" for c in cells),  # a run of no-run dates is never full
        oldest=min(restorable).isoformat() if restorable else "none",
        alarms=None if alarms is None else sorted(alarms.items()),
        checked_line=_checked_line(nights),
        sets=None if watched is None else [_set_row(s, watched) for s in watched.sets],
        rows=_rows(by_date, days),
        nights={
            "set": set_name,
            "days": [d.isoformat() for d in days],
            "nights": [_night_data(n) for n in charted],
        },
    )


@functools.cache
def templates() -> jinja2.Environment:
    """The report's templates, loaded from the package (so from a wheel as from the checkout).

    Autoescaped, so a name or a note is always text; strict, so a value the page names and the
    code does not give fails the render instead of leaving a blank."""
    import jinja2

    loader = jinja2.PackageLoader("docbackup.cli", "templates")
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

    def inline(name: str) -> Markup:
        # Read as it is, not as a template: a `{#` or `{{` in the script or the style stays
        # itself, and neither is escaped, as style and script text must not be.
        return _unescaped(loader.get_source(env, name)[0])

    env.globals["inline"] = inline
    env.filters["script_json"] = _script_json
    return env


def _unescaped(text: str) -> Markup:
    """Text the page carries as it is: the package's own style and script, and the nights'
    JSON once made safe for a script element (the only way a name or a note reaches here)."""
    from markupsafe import Markup

    return Markup(text)  # noqa: S704 - see the docstring


def _script_json(data: object) -> Markup:
    # Inside a <script> element only `</` can end it early, and `<!--` can switch the parser
    # into a state where the real `</script>` no longer ends it; both stay valid JSON escaped.
    # HTML escaping would be wrong here: a script's text is not decoded, so JSON.parse would
    # see `&lt;` where the note said `<`.
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return _unescaped(text.replace("</", "<\\/").replace("<!--", "\\u003c!--"))


def _night_data(n: SnapshotInfo) -> dict[str, object]:
    return {**n.summary(), "size": human_bytes(n.bytes), "tip": _tip(n)}


def _checked_line(nights: Sequence[SnapshotInfo]) -> str:
    """The last confirmation that what the newest night points at is in the bucket, and what
    the nights found gone and stored again."""
    if not nights:
        return "Nothing checked yet."
    last = next((n for n in nights if n.checked_at is not None), None)
    line = (
        f"Last check of every copy a night points at: {checked(last)} (the night of {last.date})."
        if last is not None
        else "No night has recorded a check of its copies."
    )
    healed = sum(n.healed for n in nights)
    missing = sum(n.missing for n in nights)
    if healed:
        line += f" {healed} document(s) stored again because their copy was gone or damaged."
    if missing:
        line += f" {missing} copies that older nights point at are known missing."
    return line


def _set_row(s: SetState, watched: WatchResult) -> dict[str, str]:
    if s.retired:
        state = "retired"
    elif s.stale:
        state = "stale"
    else:
        state = "ok"
    last = s.last_complete.isoformat() if s.last_complete else "none within retention"
    return {
        "name": s.name,
        "state": state,
        "last": last,
        "said": s.said(watched.checked_at) if s.stale else "",
    }


def _tip(n: SnapshotInfo) -> str:
    lines = [
        f"{n.date.isoformat()}: {n.status}",
        f"{n.documents} documents, {human_bytes(n.bytes)}",
        f"{n.new} new, {n.changed} changed, {n.refreshed} refreshed, {n.failed} failed",
        f"{human_bytes(n.bytes_uploaded)} uploaded"
        + (f" in {n.duration_s:.0f} s" if n.duration_s is not None else ""),
    ]
    if n.note:
        lines.append(n.note)
    return "\n".join(lines)


def _verdict(nights: Sequence[SnapshotInfo], generated_at: dt.datetime) -> tuple[bool, str]:
    if not nights:
        return False, "No nights yet: no backup of this set has run into this bucket."
    last = nights[0]
    # When the run ended, as its manifest says; a manifest that does not say falls back to the
    # start of its day, which can only make a missed night show sooner, never hide one.
    ran = last.finished_at or dt.datetime.combine(last.date, dt.time(0), tzinfo=generated_at.tzinfo)
    if generated_at - ran > STALE_AFTER:
        return False, (
            f"No backup has run in the last 26 hours: the latest night is {last.date.isoformat()}"
            f" ({last.status})."
        )
    when = f"Last night ({last.date.isoformat()})"
    if last.status == "complete":
        return True, f"{when} complete: {last.documents} documents, {human_bytes(last.bytes)}"
    if last.status == "partial":
        return False, (
            f"{when} partial: {last.failed} document(s) were not stored; "
            f"{last.documents} documents, {human_bytes(last.bytes)}"
        )
    return False, f"{when} {last.status}: {last.note or 'the night cannot be restored'}"


def _day_state(n: SnapshotInfo | None, today: dt.date) -> tuple[str, str]:
    """(css class, word) for one date of the retention window."""
    if n is None:
        return "missing", "no run"
    if n.status == "invalid":
        return "invalid", "unreadable"
    if n.status == "archived":
        return "invalid", "manifest archived"
    if n.status != "complete":
        return "partial", "partial"
    if not n.restorable or (n.restorable_until is not None and n.restorable_until < today):
        return "gone", "expired"
    return "full", "restores fully"


def _cell(d: dt.date, n: SnapshotInfo | None, today: dt.date) -> Cell:
    state, word = _day_state(n, today)
    until = n.restorable_until if n is not None else None
    return Cell(
        date=d.isoformat(),
        day=d.strftime("%a %d %b"),
        state=state,
        word=word,
        until=until.isoformat() if until is not None else "",
    )


def _summarised(cells: list[Cell]) -> list[Cell]:
    """Two or more dates in a row with no run become one cell, so that a set that stopped (or
    has just begun) does not fill the page with the same word."""
    out: list[Cell] = []
    for cell in cells:
        prev = out[-1] if out else None
        if cell.state == "missing" and prev is not None and prev.state == "missing":
            first = dt.date.fromisoformat(prev.date)
            nights = prev.nights + 1
            out[-1] = dataclasses.replace(
                prev,
                day=f"{first.strftime('%a %d %b')} to {cell.day}",
                word=f"no run, {nights} nights",
                last=cell.date,
                nights=nights,
            )
        else:
            out.append(cell)
    return out


def _rows(by_date: Mapping[dt.date, SnapshotInfo], days: Sequence[dt.date]) -> list[Row]:
    # Every charted day appears, a missed one as "no run", so the table shows the gaps too;
    # several in a row are one row.
    dates = sorted(set(by_date) | set(days), reverse=True)
    rows: list[Row] = []
    for d in dates:
        row = _row(d, by_date.get(d))
        prev = rows[-1] if rows else None
        if row.status is None and prev is not None and prev.status is None:
            newest = prev.date.split(" to ")[-1]
            rows[-1] = Row(f"{d.isoformat()} to {newest}", None, {}, nights=prev.nights + 1)
        else:
            rows.append(row)
    return rows


def _row(d: dt.date, n: SnapshotInfo | None) -> Row:
    if n is None:
        return Row(d.isoformat(), None, {})
    figures = {
        "documents": str(n.documents),
        "size": human_bytes(n.bytes),
        "new": str(n.new),
        "changed": str(n.changed),
        "refreshed": str(n.refreshed),
        "failed": str(n.failed),
        "healed": str(n.healed),
        "missing": str(n.missing),
        "uploaded": human_bytes(n.bytes_uploaded),
        "time": f"{n.duration_s:.0f} s" if n.duration_s is not None else "",
    }
    classes = ("" if n.status == "complete" else "bad") + (" has-note" if n.note else "")
    return Row(
        date=d.isoformat(),
        status=n.status,
        figures=figures,
        until=n.restorable_until.isoformat() if n.restorable_until else "",
        classes=classes.strip(),
        note=n.note or "",
        checked=checked(n),
    )
