"""`docbackup report --html`: one self-contained HTML page about a set's nights.

The page loads nothing from the network (a Content-Security-Policy forbids it), so it can be
mailed, archived or opened offline and still show everything. The charts are drawn in the
browser from the nights embedded as JSON; a plain table carries the same figures for print,
for readers without JavaScript, and for anyone who wants the numbers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from html import escape

from docbackup.cli.render import human_bytes
from docbackup.engine.results import SnapshotInfo

CHART_DAYS = 30
# The missed-night alarm fires after 26 hours without a run; the page's verdict agrees with it.
STALE_AFTER = dt.timedelta(hours=26)

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

CSS = """
:root { --ok: #1e7b34; --bad: #b3261e; --warn: #9a6200; --muted: #6b6b6b; --bar: #3b6ea8; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
  margin: 0 auto; padding: 1em; max-width: 60em;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 1.35em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.6em 0 .4em; border-bottom: 1px solid #ddd; }
h3 { font-size: .95em; margin: .8em 0 .2em; font-weight: 600; }
.meta { color: var(--muted); margin: 0; overflow-wrap: anywhere; }
.verdict { font-weight: 600; padding: .5em .75em; border-radius: 4px; margin: .8em 0; }
.verdict.ok { background: #e6f4ea; color: var(--ok); }
.verdict.bad { background: #fce8e6; color: var(--bad); }
.chart svg { width: 100%; height: auto; display: block; }
.chart .bar { fill: var(--bar); }
.chart .bar-bad, .chart .marker { fill: var(--bad); }
.chart .gap { fill: #9a9a9a; font-size: 11px; }
.chart .axis { stroke: #999; }
.chart .label { fill: var(--muted); font-size: 11px; }
.legend { color: var(--muted); font-size: .9em; margin: .2em 0 1em; }
.timeline { display: grid; grid-template-columns: repeat(auto-fill, minmax(7em, 1fr));
  gap: 4px; list-style: none; padding: 0; margin: .5em 0; }
.timeline li { padding: .3em .4em; border-radius: 3px; font-size: .85em; line-height: 1.3;
  border-left: 4px solid; background: #f4f4f4; }
.timeline .day { font-weight: 600; }
.timeline span { display: block; white-space: nowrap; }
.full { border-color: var(--ok) !important; } .full .state { color: var(--ok); }
.partial { border-color: var(--warn) !important; } .partial .state { color: var(--warn); }
.gone, .invalid { border-color: var(--bad) !important; }
.gone .state, .invalid .state { color: var(--bad); }
.missing { border-color: #bbb !important; color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9em; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #e3e3e3;
  vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.bad td { color: var(--bad); } tr.missing td { color: var(--muted); }
td.date { white-space: nowrap; }
tr.has-note td { border-bottom: none; }
td.note { overflow-wrap: anywhere; padding-left: 2em; font-size: .95em; }
.alarm-ALARM { color: var(--bad); font-weight: 600; }
.alarm-OK { color: var(--ok); }
.alarm-INSUFFICIENT_DATA { color: var(--warn); }
@media print { body { font-size: 11pt; max-width: none; } section { break-inside: avoid; } }
"""

# Draws each `.chart` container from the embedded nights: one slot per calendar day, a bar per
# night that ran (red, with a dot above, when it was partial or unreadable), an x where no night
# ran. Every figure a tooltip shows is prepared in Python, so the script only scales and places.
JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("nights").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var H = 150, TOP = 18, BASE = 128;
  var byDate = {};
  data.nights.forEach(function (n) { byDate[n.date] = n; });

  function el(name, attrs, parent, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  document.querySelectorAll(".chart").forEach(function (box) {
    // Drawn at the container's own width, so labels stay readable on a phone and bars fill
    // a desktop; the viewBox then scales the drawing as a whole for print.
    var W = Math.max(box.clientWidth, 300), slot = W / data.days.length;
    var field = box.getAttribute("data-field"), unit = box.getAttribute("data-unit");
    var max = 0, maxLabel = "0";
    data.nights.forEach(function (n) {
      if (data.days.indexOf(n.date) >= 0 && n[field] > max) {
        max = n[field];
        maxLabel = field === "bytes" ? n.size : String(n[field]);
      }
    });
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img",
                         "aria-label": box.getAttribute("data-title")}, box);
    el("line", {x1: 0, x2: W, y1: BASE, y2: BASE, "class": "axis"}, svg);
    el("text", {x: 2, y: 11, "class": "label"}, svg, "max " + maxLabel + " " + unit);
    var drawn = 0;
    data.days.forEach(function (day, i) {
      var x = i * slot, n = byDate[day];
      var fromEnd = data.days.length - 1 - i;
      if (fromEnd % 7 === 0) {
        el("text", {x: fromEnd ? x + slot / 2 : W, y: H - 4, "class": "label",
                    "text-anchor": fromEnd ? "middle" : "end"}, svg, day.slice(5));
      }
      if (!n) {
        var gap = el("text", {x: x + slot / 2, y: BASE - 3, "class": "gap",
                              "text-anchor": "middle"}, svg, "\\u00d7");
        el("title", {}, gap, day + ": no run");
        return;
      }
      // A night with nothing stored still gets a sliver, so a failed night is never invisible.
      var h = Math.max(max ? (n[field] / max) * (BASE - TOP) : 0, 2);
      var bad = n.status !== "complete";
      var bar = el("rect", {x: x + slot * 0.15, y: BASE - h, width: slot * 0.7, height: h,
                            "class": bad ? "bar bar-bad" : "bar", "data-date": day}, svg);
      el("title", {}, bar, n.tip);
      if (bad) {
        var dot = el("circle", {cx: x + slot / 2, cy: BASE - h - 6, r: 3.5, "class": "marker"},
                     svg);
        el("title", {}, dot, n.tip);
      }
      drawn += 1;
    });
    box.setAttribute("data-drawn", String(drawn));
  });
})();
"""


def render(
    nights: Sequence[SnapshotInfo],
    *,
    bucket: str,
    set_name: str,
    retention_days: int,
    today: dt.date,
    generated_at: dt.datetime,
    alarms: Mapping[str, str] | None = None,
) -> str:
    """The whole page. `nights` newest first, as Catalog.snapshots() returns them."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, not {retention_days}")
    by_date = {n.date: n for n in nights}
    days = [today - dt.timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    charted = [by_date[d] for d in days if d in by_date]
    data = {
        "set": set_name,
        "days": [d.isoformat() for d in days],
        "nights": [_night_data(n) for n in charted],
    }
    verdict_ok, verdict = _verdict(nights, generated_at)
    generated = generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()
    title = f"Backup report: {bucket}, set {set_name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Backup report</h1>",
        f'<p class="meta">Bucket <strong>{escape(bucket)}</strong> &middot; set '
        f"<strong>{escape(set_name)}</strong> &middot; generated {escape(generated)}</p>",
        f'<p class="verdict {"ok" if verdict_ok else "bad"}" id="verdict">{escape(verdict)}</p>',
        "</header>",
        _charts(charted),
        _timeline(by_date, nights, retention_days, today),
        _alarms(alarms),
        _table(nights, days),
        f'<script type="application/json" id="nights">{_script_json(data)}</script>',
        f"<script>{JS}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _script_json(data: object) -> str:
    # Inside a <script> element only `</` can end it early, and `<!--` can switch the parser
    # into a state where the real `</script>` no longer ends it; both stay valid JSON escaped.
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def _night_data(n: SnapshotInfo) -> dict[str, object]:
    return {**n.summary(), "size": human_bytes(n.bytes), "tip": _tip(n)}


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


def _charts(charted: Sequence[SnapshotInfo]) -> str:
    empty = "" if charted else '<p class="legend">No nights yet in the last 30 days.</p>'
    return "\n".join(
        [
            "<section>",
            f"<h2>The last {CHART_DAYS} nights</h2>",
            empty,
            "<h3>Documents per night</h3>",
            '<div class="chart" id="chart-documents" data-field="documents" '
            'data-unit="documents" data-title="Documents per night"></div>',
            "<h3>Size per night</h3>",
            '<div class="chart" id="chart-bytes" data-field="bytes" data-unit="stored" '
            'data-title="Size per night"></div>',
            '<p class="legend">Red bar with a dot: a partial or unreadable night. '
            "&times;: no run that day. Hover over or tap a bar for its figures.</p>",
            "<noscript><p>The charts need JavaScript; the table below has the same "
            "figures.</p></noscript>",
            "</section>",
        ]
    )


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


def _timeline(
    by_date: Mapping[dt.date, SnapshotInfo],
    nights: Sequence[SnapshotInfo],
    retention_days: int,
    today: dt.date,
) -> str:
    window = [today - dt.timedelta(days=retention_days - 1 - i) for i in range(retention_days)]
    cells = []
    full = 0
    for d in window:
        n = by_date.get(d)
        cls, word = _day_state(n, today)
        full += cls == "full"
        until = ""
        if n is not None and n.restorable_until is not None:
            until = f'<span class="until">until {n.restorable_until.isoformat()}</span>'
        cells.append(
            f'<li class="{cls}" data-date="{d.isoformat()}" data-state="{cls}">'
            f'<span class="day">{d.strftime("%a %d %b")}</span>'
            f'<span class="state">{escape(word)}</span> {until}</li>'
        )
    restorable = [n.date for n in nights if _day_state(n, today)[0] == "full"]
    oldest = min(restorable).isoformat() if restorable else "none"
    summary = (
        f"{full} of the last {retention_days} dates restore fully; oldest restorable: {oldest}"
    )
    return "\n".join(
        [
            "<section>",
            f"<h2>What can be restored (retention {retention_days} days)</h2>",
            f'<p id="retention-summary">{escape(summary)}</p>',
            '<ol class="timeline">',
            *cells,
            "</ol>",
            '<p class="legend">"until" is the last day a night restores fully; after it, the '
            "oldest copies that night relies on have passed retention.</p>",
            "</section>",
        ]
    )


def _alarms(alarms: Mapping[str, str] | None) -> str:
    if alarms is None:
        return ""
    if not alarms:
        rows = ['<tr><td colspan="2">No alarms found.</td></tr>']
    else:
        rows = [
            f'<tr><td>{escape(name)}</td><td class="alarm-{escape(state)}">{escape(state)}</td>'
            "</tr>"
            for name, state in sorted(alarms.items())
        ]
    return "\n".join(
        [
            '<section id="alarms">',
            "<h2>Alarms</h2>",
            '<div class="scroll"><table><thead><tr><th>alarm</th><th>state</th></tr></thead>',
            "<tbody>",
            *rows,
            "</tbody></table></div>",
            "</section>",
        ]
    )


def _table(nights: Sequence[SnapshotInfo], days: Sequence[dt.date]) -> str:
    by_date = {n.date: n for n in nights}
    # Every charted day appears, a missed one as "no run", so the table shows the gaps too.
    dates = sorted(set(by_date) | set(days), reverse=True)
    numeric = ("documents", "size", "new", "changed", "refreshed", "failed", "uploaded", "time")
    heads = ("date", "status", *numeric, "restores until")
    header = "".join(f'<th class="n">{h}</th>' if h in numeric else f"<th>{h}</th>" for h in heads)
    rows = []
    for d in dates:
        n = by_date.get(d)
        if n is None:
            rows.append(
                f'<tr class="missing"><td class="date">{d.isoformat()}</td><td>no run</td>'
                f'<td colspan="{len(heads) - 2}"></td></tr>'
            )
            continue
        figures = (
            str(n.documents),
            human_bytes(n.bytes),
            str(n.new),
            str(n.changed),
            str(n.refreshed),
            str(n.failed),
            human_bytes(n.bytes_uploaded),
            f"{n.duration_s:.0f} s" if n.duration_s is not None else "",
        )
        until = n.restorable_until.isoformat() if n.restorable_until else ""
        classes = ("" if n.status == "complete" else "bad") + (" has-note" if n.note else "")
        rows.append(
            f'<tr class="{classes.strip()}"><td class="date">{d.isoformat()}</td>'
            f"<td>{escape(n.status)}</td>"
            + "".join(f'<td class="n">{escape(v)}</td>' for v in figures)
            + f"<td>{until}</td></tr>"
        )
        # A note (why a night does not restore fully) can be long: it gets a row of its own.
        if n.note:
            rows.append(
                f'<tr class="{classes.strip()}"><td class="note" colspan="{len(heads)}">'
                f"{escape(n.note)}</td></tr>"
            )
    return "\n".join(
        [
            "<section>",
            "<h2>Nights</h2>",
            '<div class="scroll"><table id="nights-table">',
            f"<thead><tr>{header}</tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table></div>",
            "</section>",
        ]
    )
