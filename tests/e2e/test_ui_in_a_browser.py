"""`docbackup ui` in a real browser (Playwright driving Debian's Chromium), against a stack
deployed to the sandbox: the office machine backs up with its own policy, and the app runs with
the restorer's (RestorePolicy), so every request it makes is judged as AWS would judge it.

The person finds a document by name and downloads it, restores a folder into a folder of their
own, and gets in only through the link the app printed; a page of another site cannot make it
restore anything. A screenshot of each page is kept where the tests keep their artefacts
(`tests.artefacts`). Without Chromium these tests skip and say why; `make browser` installs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docbackup.cli.main import cli
from docbackup.sandbox.rules.actors import StackActors
from docbackup.sandbox.server import acting_as
from tests.artefacts import artefact_dir
from tests.browser import NEEDS_CHROMIUM, chromium
from tests.days import yesterday

pytestmark = NEEDS_CHROMIUM

TREE = {
    "contracts/Lease 2026.pdf": b"%PDF the lease " * 4000,
    "contracts/Supplier agreement.docx": b"PK the agreement " * 900,
    "contracts/old/Lease 2019.pdf": b"%PDF an old lease " * 300,
    "invoices/INV-0007.pdf": b"%PDF invoice seven " * 50,
    "notes.txt": b"call the accountant\n",
}


@pytest.fixture
def ui(
    stack: dict[str, Any], crew: StackActors, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    office = tmp_path / "Office"
    for rel, data in TREE.items():
        (office / rel).parent.mkdir(parents=True, exist_ok=True)
        (office / rel).write_bytes(data)
    config = tmp_path / "config.toml"
    with acting_as(crew.office.credentials):
        for argv in (
            ["init", "--stack-name", stack["name"], "--set", f"office={office}"],
            ["backup", str(office), "--set", "office", "--date", yesterday()],
        ):
            ran = CliRunner().invoke(cli, ["--config", str(config), *argv])
            assert ran.exit_code == 0, ran.output
    # The app as the person starts it, with the restorer's credentials only.
    env = {**os.environ, **stack["aws"].environment, **crew.restorer.credentials}
    env.pop("AWS_SESSION_TOKEN", None)
    env.update(crew.restorer.credentials)
    argv = [sys.executable, "-m", "docbackup", "--config", str(config), "ui", "--no-browser"]
    proc = subprocess.Popen(
        [*argv, "--set", "office"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("docbackup ui: http://127.0.0.1:"), (line, proc.stderr)
        link = line.split(": ", 1)[1].strip()
        yield {"link": link, "base": link.split("/?")[0], "office": office, "aws": stack["aws"]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Within the restorer's policy, but for the stack's alarms (the config names the stack):
    # RestorePolicy grants no CloudWatch, so the app asked once, said so, and asked no more.
    denied = stack["aws"].requests.denied
    assert [d.split()[1] for d in denied] == ["cloudwatch:DescribeAlarms"], denied
    assert crew.restorer.arn.split("/")[-1] in denied[0]


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@contextlib.contextmanager
def person(browser: Any, link: str, *, refusals: int = 0, **options: Any) -> Iterator[Any]:
    """A browser window that opened the app's link, failing on any error its pages log (a
    blocked script, a refused style: what the pages' CSP would stop) but the `refusals` (403)
    a test provokes."""
    context = browser.new_context(accept_downloads=True, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(link)
    try:
        yield page
    finally:
        context.close()
    refused = [e for e in errors if "status of 403" in e]
    assert len(refused) == refusals and [e for e in errors if e not in refused] == []


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(artefact_dir("ui") / f"{name}.png"), full_page=True)


def fits(page: Any) -> bool:
    """Nothing wider than the window: no sideways scrolling to read a page."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_find_a_document_by_name_and_download_it(ui: dict[str, Any], browser: Any) -> None:
    with person(browser, ui["link"], viewport={"width": 1280, "height": 900}) as page:
        assert page.url == ui["base"] + "/"
        assert "Last night of office" in page.inner_text("#verdict")
        assert "could not be read with these credentials" in page.inner_text("#alarms-unread")
        assert fits(page)
        shot(page, "home")

        # With the keyboard only: to the search field, a name, Enter.
        for _ in range(30):
            if page.evaluate("document.activeElement.id") == "q":
                break
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "q"
        page.keyboard.type("lease 2026*")
        page.keyboard.press("Enter")
        page.wait_for_selector("#found")
        assert "contracts/Lease 2026.pdf" in page.inner_text("#found")
        shot(page, "find")

        with page.expect_download() as got:
            page.get_by_role("link", name=f"download as of {yesterday()}").click()
        body = Path(got.value.path()).read_bytes()
        assert got.value.suggested_filename == "Lease 2026.pdf"
        assert (
            hashlib.sha256(body).digest()
            == hashlib.sha256(TREE["contracts/Lease 2026.pdf"]).digest()
        )


def test_restore_a_folder_into_a_folder_of_ones_own(
    ui: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    to = tmp_path / "Restored contracts"
    with person(browser, ui["link"], viewport={"width": 1280, "height": 900}) as page:
        page.get_by_role("link", name="Browse the last night").click()
        page.wait_for_selector("#listing")
        shot(page, "night")
        page.get_by_role("link", name="restore the folder contracts").click()
        page.wait_for_selector("#restore-form")
        assert "3 document(s)" in page.inner_text("#what")
        shot(page, "restore-form")
        page.fill("#target", str(to))
        page.get_by_role("button", name="Restore").click()

        # htmx swaps the progress in until the restore has ended
        page.wait_for_selector("#outcome", timeout=60_000)
        assert "Done: 3 document(s)" in page.inner_text("#outcome")
        shot(page, "restore-done")

        # Again into the same folder, after the person changed one of the restored documents:
        # nothing there is replaced, and the page says why.
        edited = to / "contracts/Lease 2026.pdf"
        edited.write_bytes(b"the person's own changes")
        page.go_back()
        page.wait_for_selector("#restore-form")
        page.fill("#target", str(to))
        page.get_by_role("button", name="Restore").click()
        page.wait_for_selector("#outcome", timeout=60_000)
        assert "Nothing was written" in page.inner_text("#outcome")
        assert "Lease 2026.pdf" in page.inner_text("#outcome")
        shot(page, "restore-refused")
        assert edited.read_bytes() == b"the person's own changes"
        edited.write_bytes(TREE["contracts/Lease 2026.pdf"])

    restored = {p.relative_to(to).as_posix(): p.read_bytes() for p in to.rglob("*") if p.is_file()}
    assert restored == {k: v for k, v in TREE.items() if k.startswith("contracts/")}


def test_without_the_link_nothing_opens(ui: dict[str, Any], browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        answer = page.goto(ui["base"] + "/")
        assert answer is not None and answer.status == 403
        assert "open the link" in page.inner_text("body")
        # nor does the link a second time, in another browser
        used = browser.new_context()
        with person(browser, ui["link"]):
            pass
        again = used.new_page().goto(ui["link"])
        assert again is not None and again.status == 403
        used.close()
    finally:
        context.close()


def test_a_page_of_another_site_cannot_start_a_restore(
    ui: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    to = tmp_path / "planted"
    attack = f"""<!DOCTYPE html><form id="f" method="post"
        action="{ui["base"]}/sets/office/restore">
      <input name="date" value="latest"><input name="path" value="">
      <input name="target" value="{to}"><input name="form_token" value="guessed">
    </form><script>document.getElementById('f').submit()</script>"""
    with person(browser, ui["link"], refusals=1) as page:
        # the person, signed in, then visits a page of another site in the same browser
        page.context.route(
            "http://elsewhere.example/**",
            lambda route: route.fulfill(status=200, content_type="text/html", body=attack),
        )
        with page.expect_response(lambda r: r.url.endswith("/sets/office/restore")) as sent:
            page.goto("http://elsewhere.example/")
        assert sent.value.status == 403
        assert "another site" in sent.value.text()
    assert not to.exists()


def test_readable_on_a_phone(ui: dict[str, Any], browser: Any) -> None:
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    with person(browser, ui["link"], **phone) as page:
        assert fits(page)
        shot(page, "home-phone")
        page.get_by_role("link", name="Browse the last night").click()
        page.get_by_role("link", name="contracts/").click()
        page.wait_for_selector("#listing")
        assert fits(page)
        shot(page, "night-phone")
        page.get_by_role("link", name="Restore this folder").click()
        page.wait_for_selector("#restore-form")
        assert fits(page)
        shot(page, "restore-form-phone")
