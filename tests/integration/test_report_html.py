"""The HTML report: one self-contained page that escapes what it shows and draws its charts.

The last test opens the page in headless Chromium and reads back the DOM the script built, so
"the charts drew" is checked in a real browser rather than assumed from the markup.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import jinja2
import pytest

from docbackup.cli.report_html import CSP, render, templates
from docbackup.engine.results import SnapshotInfo

TODAY = dt.date(2026, 11, 21)
GENERATED = dt.datetime(2026, 11, 21, 7, 30, tzinfo=dt.UTC)
HOSTILE = "</script><script>alert(1)</script><!--<script>"
SET_NAME = "Q&A <drafts>"
GAP = dt.date(2026, 11, 12)
PARTIAL = dt.date(2026, 11, 15)
INVALID = dt.date(2026, 11, 18)
# Nights whose oldest copies passed retention yesterday: listed, but no longer restorable.
EXPIRED = (dt.date(2026, 10, 23), dt.date(2026, 10, 24))
WINDOW = [TODAY - dt.timedelta(days=29 - i) for i in range(30)]
SVG_NS = "http://www.w3.org/2000/svg"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


def night(date: dt.date) -> SnapshotInfo:
    k = date.toordinal() % 17
    documents, size = 500 + k, 48_000_000 + k * 10_000
    if date == INVALID:
        return SnapshotInfo(date, SET_NAME, "invalid", 0, 0, 0, False, HOSTILE)
    if date == PARTIAL:
        return SnapshotInfo(
            date, SET_NAME, "partial", documents, size, 3, False,
            "partial run: 3 document(s) were not stored",
            new=9, changed=2, bytes_uploaded=900_000, duration_s=41.0,
            restorable_until=date + dt.timedelta(days=29),
        )  # fmt: skip
    until = TODAY - dt.timedelta(days=1) if date in EXPIRED else date + dt.timedelta(days=29)
    expired = until < TODAY
    return SnapshotInfo(
        date, SET_NAME, "complete", documents, size, 0, not expired,
        f"copies stored {date} have passed the 30-day retention" if expired else None,
        new=10 + k, changed=k, refreshed=1, bytes_uploaded=1_000_000 + k, duration_s=30.0 + k,
        restorable_until=until,
    )  # fmt: skip


def history() -> list[SnapshotInfo]:
    """35 nights newest first, ending today, with one night that did not run."""
    dates = [TODAY - dt.timedelta(days=i) for i in range(35)]
    return [night(d) for d in dates if d != GAP]


def page(nights: list[SnapshotInfo] | None = None, **kw: object) -> str:
    args: dict[str, object] = {
        "bucket": "office-backups",
        "set_name": SET_NAME,
        "retention_days": 30,
        "today": TODAY,
        "generated_at": GENERATED,
    }
    args.update(kw)
    return render(history() if nights is None else nights, **args)  # type: ignore[arg-type]


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def iter(self) -> list[Node]:
        out = [self]
        for c in self.children:
            out.extend(c.iter())
        return out

    def find(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()
            if tag in (None, n.tag) and all(n.attrs.get(k) == v for k, v in attrs.items())
        ]

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Tree(HTMLParser):
    """Just enough of a DOM: the element tree, each element's text, and every parse quirk."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype = ""
        self.feed(text)
        self.close()

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"</{tag}> closes a void element"
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def parse(text: str) -> Node:
    tree = Tree(text)
    assert tree.stack == [tree.root], f"unclosed: {[n.tag for n in tree.stack[1:]]}"
    assert tree.doctype.lower() == "doctype html"
    return tree.root


def test_the_page_parses_and_loads_nothing_from_the_network() -> None:
    html = page(alarms={"NightFailed": "OK"})
    root = parse(html)
    [csp] = [m for m in root.find(tag="meta") if m.attrs.get("http-equiv")]
    assert csp.attrs == {"http-equiv": "Content-Security-Policy", "content": CSP}
    assert "default-src 'none'" in CSP
    assert not any(n.tag in {"link", "iframe", "img", "object", "embed"} for n in root.iter())
    for n in root.iter():
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            value = n.attrs.get(name)
            assert value is None or value.startswith(("#", "data:")), (n.tag, name, value)
    styles = "".join(s.text for s in root.find(tag="style"))
    styles += "".join(n.attrs.get("style", "") for n in root.iter())
    assert "@import" not in styles
    assert re.findall(r"url\(\s*['\"]?(?!data:)", styles) == []
    # The one absolute address allowed is the SVG namespace name, which nothing fetches.
    assert set(re.findall(r"https?://[^\s\"'<>)\\]+", html)) <= {SVG_NS}
    assert "//" not in "".join(re.findall(r"(?:src|href)\s*=\s*['\"]?([^'\"\s>]*)", html))


def test_hostile_text_is_escaped_everywhere() -> None:
    html = page()
    assert HOSTILE not in html
    # Inside the JSON the note's `<script>` is inert script data (its `</` and `<!--` are
    # escaped); anywhere else in the page it must only appear as text.
    json_part = re.search(r'<script type="application/json" id="nights">.*?</script>', html, re.S)
    assert json_part is not None
    rest = html.replace(json_part.group(0), "")
    assert "<script>alert(1)" not in rest and "&lt;/script&gt;&lt;script&gt;alert(1)" in rest
    assert "<!--" not in json_part.group(0)
    root = parse(html)
    scripts = root.find(tag="script")
    # Only the page's own two scripts: the note did not open or close one.
    assert [s.attrs.get("type") for s in scripts] == ["application/json", None]
    assert "alert(1)" not in scripts[1].text
    assert "Q&amp;A &lt;drafts&gt;" in html
    header = root.find(tag="header")[0].all_text()
    assert SET_NAME in header
    table = root.find(id="nights-table")[0]
    assert HOSTILE in table.all_text()  # shown to the reader as text, exactly
    assert SET_NAME in root.find(tag="title")[0].text


def test_the_embedded_json_carries_the_charted_nights() -> None:
    html = page()
    assert "<\\/script>" in html
    [data_el] = parse(html).find(tag="script", id="nights")
    data = json.loads(data_el.text)
    assert data["set"] == SET_NAME
    assert data["days"] == [d.isoformat() for d in WINDOW]
    in_window = [n for n in reversed(history()) if n.date >= WINDOW[0]]
    assert len(in_window) == 29
    assert [n["date"] for n in data["nights"]] == [n.date.isoformat() for n in in_window]
    for got, want in zip(data["nights"], in_window, strict=True):
        for key, value in want.summary().items():
            assert got[key] == value, (want.date, key)
    invalid = next(n for n in data["nights"] if n["date"] == INVALID.isoformat())
    assert invalid["note"] == HOSTILE and invalid["status"] == "invalid"
    partial = next(n for n in data["nights"] if n["date"] == PARTIAL.isoformat())
    assert (partial["failed"], partial["restorable_until"]) == (3, "2026-12-14")
    assert partial["tip"].startswith("2026-11-15: partial\n")
    assert GAP.isoformat() not in {n["date"] for n in data["nights"]}


def verdict(html: str) -> Node:
    [v] = parse(html).find(id="verdict")
    return v


def test_verdict_complete_partial_and_missed() -> None:
    v = verdict(page())
    n = night(TODAY)
    assert v.classes == {"verdict", "ok"}
    size = f"{n.bytes / 1e6:.1f} MB"
    assert v.text == f"Last night (2026-11-21) complete: {n.documents} documents, {size}"

    partial = [night(PARTIAL)]
    v = verdict(page(partial, today=PARTIAL, generated_at=GENERATED - dt.timedelta(days=6)))
    assert v.classes == {"verdict", "bad"}
    assert v.text.startswith("Last night (2026-11-15) partial: 3 document(s) were not stored")

    v = verdict(page([night(INVALID)], today=INVALID, generated_at=GENERATED.replace(day=18)))
    assert "bad" in v.classes and v.text.startswith("Last night (2026-11-18) invalid: </script>")

    # Today's night never ran: 27.5 hours after the start of the latest night's day.
    v = verdict(page(history()[1:], generated_at=GENERATED.replace(hour=3, minute=30)))
    assert "bad" in v.classes
    assert "No backup has run in the last 26 hours" in v.text and "2026-11-20" in v.text

    # The run's own end counts, not the start of its day: a night dated the 20th that ran at
    # 02:00 on the 21st (an office machine after midnight) is 25.5 hours old at 03:30 on the 22nd
    late = dataclasses.replace(
        night(TODAY - dt.timedelta(days=1)),
        finished_at=dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC),
    )
    v = verdict(page([late], generated_at=dt.datetime(2026, 11, 22, 3, 30, tzinfo=dt.UTC)))
    assert v.classes == {"verdict", "ok"} and v.text.startswith("Last night (2026-11-20)")
    v = verdict(page([late], generated_at=dt.datetime(2026, 11, 22, 4, 30, tzinfo=dt.UTC)))
    assert "No backup has run in the last 26 hours" in v.text


def test_retention_timeline_counts_what_restores() -> None:
    root = parse(page())
    [summary] = root.find(id="retention-summary")
    # Not fully: two expired nights, the gap, the partial night and the unreadable one.
    assert summary.text == "25 of the last 30 dates restore fully; oldest restorable: 2026-10-25"
    cells = {n.attrs["data-date"]: n for n in root.find(tag="li") if "data-state" in n.attrs}
    assert list(cells) == [d.isoformat() for d in WINDOW]
    states = {d: c.attrs["data-state"] for d, c in cells.items()}
    assert states[GAP.isoformat()] == "missing"
    assert states[PARTIAL.isoformat()] == "partial"
    assert states[INVALID.isoformat()] == "invalid"
    assert [states[d.isoformat()] for d in EXPIRED] == ["gone", "gone"]
    assert sum(s == "full" for s in states.values()) == 25
    assert "until 2026-12-20" in cells[TODAY.isoformat()].all_text()

    short = parse(page(retention_days=7)).find(id="retention-summary")[0].text
    assert short == "5 of the last 7 dates restore fully; oldest restorable: 2026-10-25"


def test_alarms_are_listed_with_alarm_in_red() -> None:
    root = parse(
        page(alarms={"NoRunIn26h": "ALARM", "NightFailed": "OK", "Dlq": "INSUFFICIENT_DATA"})
    )
    [section] = root.find(id="alarms")
    states = {
        row.children[0].text: row.children[1] for row in section.iter() if row.tag == "tr"
        if row.children[0].tag == "td"
    }  # fmt: skip
    assert {k: v.text for k, v in states.items()} == {
        "Dlq": "INSUFFICIENT_DATA", "NightFailed": "OK", "NoRunIn26h": "ALARM",
    }  # fmt: skip
    assert states["NoRunIn26h"].classes == {"alarm-ALARM"}
    assert ".alarm-ALARM { color: var(--bad)" in page()
    assert parse(page()).find(id="alarms") == []
    assert "No alarms found." in parse(page(alarms={})).find(id="alarms")[0].all_text()


def test_no_nights_yet() -> None:
    html = page([])
    root = parse(html)
    v = verdict(html)
    assert "bad" in v.classes and v.text.startswith("No nights yet")
    data = json.loads(root.find(id="nights")[0].text)
    assert data["nights"] == [] and len(data["days"]) == 30
    summary = root.find(id="retention-summary")[0].text
    assert summary == "0 of the last 30 dates restore fully; oldest restorable: none"
    # thirty dates without a run are one row and one card, not thirty
    rows = root.find(id="nights-table")[0].find(tag="tr")
    assert len(rows) == 2 and "no run, 30 nights" in rows[1].all_text()
    first, last = WINDOW[0].isoformat(), WINDOW[-1].isoformat()
    assert f"{first} to {last}" in rows[1].all_text()
    [card] = [n for n in root.find(tag="li") if "data-state" in n.attrs]
    assert (card.attrs["data-date"], card.attrs["data-last"]) == (first, last)
    assert card.attrs["data-nights"] == "30" and "no run, 30 nights" in card.all_text()


INJECTED = "<script>alert(1)</script>"


def test_names_documents_and_error_text_are_shown_as_text() -> None:
    # GIVEN a bucket, a set, an unreadable document's error and an alarm, each with markup,
    # a quote and an ampersand (the alarm's state tries to leave its class attribute)
    bucket = f'office"&{INJECTED}'
    set_name = f'set"&{INJECTED}'
    note = f'docs/{INJECTED}".pdf: cannot read & skipped <img src=x onerror="alert(2)">'
    bad = dataclasses.replace(night(TODAY), set=set_name, status="invalid", note=note)
    alarm, state = f"Night{INJECTED}", '" onmouseover="alert(3)'

    # WHEN the page is drawn
    html = page([bad], bucket=bucket, set_name=set_name, alarms={alarm: state})

    # THEN each shows escaped (the JSON, inert script data, is the next test's), and no
    # element or attribute of theirs exists
    embedded = r'<script type="application/json" id="nights">.*?</script>'
    markup = re.sub(embedded, "", html, count=1, flags=re.S)
    assert INJECTED not in markup and "<img" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "office&#34;&amp;&lt;script&gt;" in markup and "docs/&lt;script&gt;" in markup
    root = parse(html)
    assert [s.attrs.get("type") for s in root.find(tag="script")] == ["application/json", None]
    assert root.find(tag="img") == []
    assert not any(k.startswith("on") for n in root.iter() for k in n.attrs)
    assert root.find(tag="title")[0].text == f"Backup report: {bucket}, set {set_name}"
    assert [s.text for s in root.find(tag="strong")] == [bucket, set_name]
    assert root.find(id="verdict")[0].text == f"Last night (2026-11-21) invalid: {note}"
    assert note in root.find(id="nights-table")[0].all_text()
    [cell] = [n for n in root.find(id="alarms")[0].iter() if n.tag == "td" and n.text == state]
    assert cell.attrs == {"class": f"alarm-{state}"}


def test_a_name_cannot_close_the_embedded_json() -> None:
    # GIVEN a set name and a note that try to end the JSON's script element, in either case,
    # and to hide the real end behind a comment
    set_name = f"a</script>{INJECTED}</SCRIPT >"
    note = f"b<!--<script>{INJECTED}"
    html = page([dataclasses.replace(night(TODAY), set=set_name, note=note)], set_name=set_name)
    # THEN the element holds all of the JSON, which gives both back exactly
    json_part = re.search(r'<script type="application/json" id="nights">(.*?)</script>', html, re.S)
    assert json_part is not None
    assert re.search(r"</script|<!--", json_part.group(1), re.I) is None
    data = json.loads(json_part.group(1))
    assert data["set"] == set_name and data["nights"][0]["note"] == note
    scripts = parse(html).find(tag="script")
    assert [s.attrs.get("type") for s in scripts] == ["application/json", None]
    assert json.loads(scripts[0].text) == data


def test_the_page_is_drawn_from_the_packages_templates() -> None:
    # The style and the script are the package's files, inlined verbatim: the page loads nothing.
    files = resources.files("docbackup.cli") / "templates"
    html = page()
    for name, element in (("report.css", "style"), ("report.js", "script")):
        text = (files / name).read_text(encoding="utf-8")
        assert f"<{element}>\n{text}</{element}>" in html
    # A value the page names and the code does not give fails the render instead of leaving
    # a blank: the page itself, drawn with one of its values missing.
    with pytest.raises(jinja2.UndefinedError, match="'verdict' is undefined"):
        templates().get_template("report.html.j2").render(
            csp=CSP, bucket="b", set_name="s", generated="now", verdict_ok=True
        )


def test_the_charts_draw_in_headless_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package chromium); CI installs it")
    report = tmp_path / "report.html"
    report.write_text(page(alarms={"NightFailed": "ALARM"}), encoding="utf-8")
    profile = tempfile.mkdtemp(dir=tmp_path)
    started = time.monotonic()
    done = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
            "--dump-dom", report.as_uri(),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    root = parse(done.stdout)
    ran = [d.isoformat() for d in WINDOW if d != GAP]
    bad = {PARTIAL.isoformat(), INVALID.isoformat()}
    for chart in ("chart-documents", "chart-bytes"):
        [box] = root.find(id=chart)
        assert box.attrs.get("data-drawn") == str(len(ran)), (chart, box.attrs, took)
        bars = [n for n in box.iter() if n.tag == "rect" and "bar" in n.classes]
        assert [b.attrs["data-date"] for b in bars] == ran
        assert {b.attrs["data-date"] for b in bars if "bar-bad" in b.classes} == bad
        assert all(float(b.attrs["height"]) > 0 for b in bars)
        tips = [b.children[0].text for b in bars]
        assert tips[ran.index(INVALID.isoformat())].endswith(HOSTILE)
        gaps = [n for n in box.iter() if "gap" in n.classes]
        assert [g.children[0].text for g in gaps] == [f"{GAP.isoformat()}: no run"]
        assert len([n for n in box.iter() if "marker" in n.classes]) == len(bad)
    # The hostile note stayed text: no script of its making ran or was added.
    assert [s.attrs.get("type") for s in root.find(tag="script")] == ["application/json", None]


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="chromium is not installed (Debian package chromium); CI installs it",
)
def test_the_day_cards_hold_their_text_at_1280_px_and_on_a_phone(tmp_path: Path) -> None:
    from tests.artefacts import artefact_dir
    from tests.browser import chromium

    # the usual month, and one where the set stopped for a fortnight
    stopped = [n for n in history() if not WINDOW[5] <= n.date <= WINDOW[19]]
    for name, nights in (("report", history()), ("report-stopped", stopped)):
        report = tmp_path / f"{name}.html"
        report.write_text(page(nights, alarms={"NightFailed": "ALARM"}), encoding="utf-8")
        with chromium() as browser:
            for width in (1280, 390):
                view = browser.new_page(viewport={"width": width, "height": 900})
                view.goto(report.as_uri())
                spilled = view.evaluate(
                    """[...document.querySelectorAll('.timeline li')].filter(li =>
                        li.scrollWidth > li.clientWidth ||
                        [...li.children].some(c => c.getBoundingClientRect().right >
                                                   li.getBoundingClientRect().right + 0.5)
                    ).map(li => li.dataset.date)"""
                )
                assert spilled == [], (name, width)
                assert view.evaluate("document.documentElement.scrollWidth <= innerWidth")
                view.screenshot(
                    path=str(artefact_dir("report") / f"{name}-{width}.png"), full_page=True
                )
                view.close()
    root = parse(page(stopped))
    cards = [n for n in root.find(tag="li") if "data-state" in n.attrs]
    assert len(cards) == 30 - 16 + 1  # the fortnight and the GAP beside it: one card
    assert "no run, 16 nights" in root.find(id="nights-table")[0].all_text()
