"""`docbackup ui`'s app over HTTP semantics, against a bucket on moto: only this run's token gets
in, only to 127.0.0.1 and localhost, and nothing from another site changes anything; the pages
say how the backups stand, a night browses as folders, a search finds a document, and a
download gives the stored bytes only once they match the manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from docbackup import compose
from docbackup.cli.main import cli
from docbackup.sandbox.server import LocalAWS
from docbackup.web.app import Settings, make_app
from tests.days import tonight, yesterday
from tests.treebuilder import write

PORT = 8765
TOKEN = "a-token-for-this-test-only"
LEASE = "contracts/Lease 2026.pdf"


@pytest.fixture
def office(tmp_path: Path, aws_env: LocalAWS, moto_bucket: tuple[str, str]) -> dict[str, object]:
    bucket, key = moto_bucket
    src = tmp_path / "office"
    write(str(src), LEASE, b"%PDF the lease " * 400)
    write(str(src), "invoices/INV-0007.pdf", b"%PDF invoice seven " * 50)
    write(str(src), "notes.txt", b"call the accountant\n")
    write(str(src), "misc/50% off #2?.txt", b"a name that needs encoding in a link\n")
    common = ["--bucket", bucket, "--kms-key-id", key, "--json"]
    for date in (yesterday(), tonight()):
        ran = CliRunner().invoke(cli, ["backup", str(src), "--date", date, *common])
        assert ran.exit_code == 0, ran.output
    return {"bucket": bucket, "src": src}


def client(bucket: str) -> TestClient:
    store = compose.backup_store(bucket, workers=4)
    app = make_app(lambda: store, Settings(bucket, "documents", 30), token=TOKEN, port=PORT)
    return TestClient(app, base_url=f"http://127.0.0.1:{PORT}", follow_redirects=False)


def client_for(c: TestClient) -> TestClient:
    """Another browser on the same app: no cookies."""
    return TestClient(c.app, base_url=f"http://127.0.0.1:{PORT}", follow_redirects=False)


def signed_in(bucket: str) -> TestClient:
    c = client(bucket)
    opened = c.get(f"/?token={TOKEN}")
    assert opened.status_code == 303 and opened.headers["location"] == "/"
    assert (
        "HttpOnly" in opened.headers["set-cookie"]
        and "SameSite=Strict" in opened.headers["set-cookie"]
    )
    return c


def test_without_the_token_nothing_is_served(office: dict[str, object]) -> None:
    c = client(str(office["bucket"]))
    assert c.get("/").status_code == 403
    assert c.get("/?token=guessed").status_code == 403
    assert c.get("/?token=%C3%A9").status_code == 403  # not a 500
    assert c.get(f"/sets/documents/download/{tonight()}/notes.txt").status_code == 403
    assert "docbackup ui" in c.get("/").text
    # a cookie of another run (or planted by another server on 127.0.0.1) opens nothing
    c.cookies.set(f"docbackup_ui_{PORT}", TOKEN)
    assert c.get("/").status_code == 403


def test_the_link_works_once_and_its_redirect_never_leaves_the_app(
    office: dict[str, object],
) -> None:
    c = client(str(office["bucket"]))
    first = c.get(f"//evil.example/?token={TOKEN}")
    assert first.status_code == 303 and first.headers["location"] == "/"
    assert first.headers["set-cookie"].startswith(f"docbackup_ui_{PORT}=")
    assert TOKEN not in first.headers["set-cookie"]  # the session is not the link's token
    assert c.get("/").status_code == 200
    # the same link again, in another browser: refused
    assert client_for(c).get(f"/?token={TOKEN}").status_code == 403


def test_another_host_name_is_refused_even_with_the_token(office: dict[str, object]) -> None:
    c = signed_in(str(office["bucket"]))
    # DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends its own Host.
    assert c.get("/", headers={"host": f"evil.example:{PORT}"}).status_code == 421
    assert c.get("/", headers={"host": f"localhost:{PORT}"}).status_code == 200


def test_a_cross_site_request_that_would_change_something_is_refused(
    office: dict[str, object],
) -> None:
    c = signed_in(str(office["bucket"]))
    refused = c.post("/", headers={"origin": "https://evil.example"})
    assert refused.status_code == 403 and "another site" in refused.text
    assert c.post("/", headers={"sec-fetch-site": "cross-site"}).status_code == 403
    # a page of another site (or another port of 127.0.0.1) may not read either
    assert c.get("/", headers={"sec-fetch-site": "same-site"}).status_code == 403
    assert c.get("/", headers={"sec-fetch-site": "same-origin"}).status_code == 200
    # the app's own origin passes the guard (and the page does not take a POST)
    assert c.post("/", headers={"origin": f"http://127.0.0.1:{PORT}"}).status_code == 405


def test_the_home_page_says_how_things_stand(office: dict[str, object]) -> None:
    c = signed_in(str(office["bucket"]))
    page = c.get("/")
    assert page.status_code == 200
    assert f"Last night of <strong>documents</strong>: {tonight()}, complete" in page.text
    assert "It can be restored in full." in page.text
    assert page.text.count('<tr class=""><td><a href="/sets/documents/nights/') == 2
    assert "backing up" in page.text  # the set, watched like the function watches it
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_a_night_browses_as_folders_and_a_document_downloads_byte_for_byte(
    office: dict[str, object],
) -> None:
    c = signed_in(str(office["bucket"]))
    top = c.get(f"/sets/documents/nights/{tonight()}/")
    assert top.status_code == 200
    assert f'href="/sets/documents/nights/{tonight()}/contracts">contracts/</a>' in top.text
    inside = c.get(f"/sets/documents/nights/{tonight()}/contracts")
    assert "Lease 2026.pdf" in inside.text and "download" in inside.text

    got = c.get(f"/sets/documents/download/{tonight()}/{LEASE}")

    assert got.status_code == 200
    original = (Path(str(office["src"])) / LEASE).read_bytes()
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(original).digest()
    assert "Lease%202026.pdf" in got.headers["content-disposition"]


def test_a_search_finds_a_document_and_a_missing_one_says_so(office: dict[str, object]) -> None:
    c = signed_in(str(office["bucket"]))
    found = c.get("/sets/documents/find", params={"q": "INV-*.pdf"})
    assert found.status_code == 200
    assert "<strong>invoices/INV-0007.pdf</strong>" in found.text
    assert "held by 2 night(s)" in found.text
    gone = c.get(f"/sets/documents/download/{tonight()}/contracts/nothing.pdf")
    assert gone.status_code == 404 and "is not in the" in gone.text
    assert c.get(f"/sets/NOT-A-SET/nights/{tonight()}/").status_code == 404


def test_a_name_that_needs_encoding_links_to_itself(office: dict[str, object]) -> None:
    c = signed_in(str(office["bucket"]))
    page = c.get(f"/sets/documents/nights/{tonight()}/misc")
    assert "50%25%20off%20%232%3F.txt" in page.text
    got = c.get(f"/sets/documents/download/{tonight()}/misc/50%25%20off%20%232%3F.txt")
    assert got.status_code == 200 and got.content == b"a name that needs encoding in a link\n"


def test_docbackup_ui_serves_on_loopback_with_the_link_it_prints(
    office: dict[str, object], aws_env: LocalAWS
) -> None:
    import os
    import subprocess
    import sys

    import httpx2

    env = {**os.environ, **aws_env.environment}
    bucket = str(office["bucket"])
    argv = [sys.executable, "-m", "docbackup", "ui", "--no-browser", "--bucket", bucket]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("docbackup ui: http://127.0.0.1:"), line
        link = line.split(": ", 1)[1].strip()
        with httpx2.Client(follow_redirects=True, timeout=30) as browser:
            page = browser.get(link)
            # the token went into a cookie, and out of the address
            assert page.status_code == 200 and "token" not in str(page.url)
            assert "How the backups stand" in page.text
        assert httpx2.get(link.split("?")[0], timeout=30).status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_damaged_copy_downloads_as_a_page_saying_so_never_as_a_file(
    office: dict[str, object], aws_env: LocalAWS
) -> None:
    import json

    from tests.integration.test_healing_moto import damage_in_place

    bucket = str(office["bucket"])
    body = (
        aws_env.client("s3")
        .get_object(Bucket=bucket, Key=f"backups/{tonight()}/documents.manifest.json")["Body"]
        .read()
    )
    (entry,) = [e for e in json.loads(body)["entries"] if e["path"] == "notes.txt"]
    damage_in_place(bucket, entry["key"], entry["version_id"])

    got = signed_in(bucket).get(f"/sets/documents/download/{tonight()}/notes.txt")

    assert got.status_code == 502
    assert got.headers["content-type"].startswith("text/html")
    assert "do not match" in got.text or "does not match" in got.text


def test_what_changed_between_the_last_two_nights(office: dict[str, object]) -> None:
    bucket, src = str(office["bucket"]), Path(str(office["src"]))
    # tonight again, after an edit, a new document and a deletion at the source
    (src / "notes.txt").write_bytes(b"call the accountant, then the bank\n")
    write(str(src), "invoices/INV-0008.pdf", b"%PDF invoice eight " * 50)
    (src / "misc" / "50% off #2?.txt").unlink()
    ran = CliRunner().invoke(cli, ["backup", str(src), "--bucket", bucket, "--json"])
    assert ran.exit_code == 0, ran.output

    page = signed_in(bucket).get("/sets/documents/changes")

    assert page.status_code == 200
    assert f"between {yesterday()} and {tonight()}" in page.text
    rows = page.text.split("<tbody>", 1)[1]
    assert 'invoices/INV-0008.pdf</a></td>\n<td data-label="what happened">added' in rows
    assert 'notes.txt</a></td>\n<td data-label="what happened">changed' in rows
    assert 'misc/50% off #2?.txt</a></td>\n<td data-label="what happened">removed' in rows
    assert "3 document(s) were added, changed or removed" in page.text


def form_token(page: str) -> str:
    return page.split('name="form_token" value="', 1)[1].split('"', 1)[0]


def finished(c: TestClient, location: str) -> str:
    """The restore page once its restore has ended (the engine runs on a thread of its own)."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        part = c.get(location + "/progress")
        assert part.status_code == 200
        if "hx-trigger" not in part.text:
            return part.text
        time.sleep(0.05)
    raise AssertionError("the restore did not finish in 60 s")


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_folder_restores_into_the_folder_picked_byte_for_byte(
    office: dict[str, object], tmp_path: Path
) -> None:
    c = signed_in(str(office["bucket"]))
    form = c.get("/sets/documents/restore", params={"date": tonight(), "path": "invoices"})
    assert form.status_code == 200 and "the folder invoices" in form.text
    assert "1 document(s)" in form.text
    to = tmp_path / "back"

    started = c.post(
        "/sets/documents/restore",
        data={
            "form_token": form_token(form.text),
            "date": tonight(),
            "path": "invoices",
            "target": str(to),
        },
    )

    assert started.status_code == 303 and started.headers["location"].startswith("/restores/")
    done = finished(c, started.headers["location"])
    assert "Done: 1 document(s)" in done
    src = Path(str(office["src"]))
    assert tree(to) == {"invoices/INV-0007.pdf": (src / "invoices/INV-0007.pdf").read_bytes()}


def test_a_restore_never_replaces_what_is_in_the_folder(
    office: dict[str, object], tmp_path: Path
) -> None:
    c = signed_in(str(office["bucket"]))
    to = tmp_path / "back"
    write(str(to), "notes.txt", b"the person's own newer notes\n")
    token = form_token(c.get("/sets/documents/restore", params={"date": tonight()}).text)

    started = c.post(
        "/sets/documents/restore",
        data={"form_token": token, "date": tonight(), "path": "", "target": str(to)},
    )

    done = finished(c, started.headers["location"])
    assert "Nothing was written" in done and "notes.txt" in done
    assert tree(to) == {"notes.txt": b"the person's own newer notes\n"}


def test_a_restore_form_from_elsewhere_or_into_a_relative_folder_is_refused(
    office: dict[str, object], tmp_path: Path
) -> None:
    c = signed_in(str(office["bucket"]))
    fields = {"date": tonight(), "path": "notes.txt", "target": str(tmp_path / "back")}
    # no form token (a page that could not read this app's forms), or a wrong one
    assert c.post("/sets/documents/restore", data=fields).status_code == 403
    forged = c.post("/sets/documents/restore", data={**fields, "form_token": "guess"})
    assert forged.status_code == 403
    token = form_token(c.get("/sets/documents/restore", params={"path": "notes.txt"}).text)
    relative = c.post(
        "/sets/documents/restore", data={**fields, "form_token": token, "target": "back"}
    )
    assert relative.status_code == 400 and "not a whole path" in relative.text
    assert not (tmp_path / "back").exists()
    # a document the night does not hold
    none = c.post(
        "/sets/documents/restore", data={**fields, "form_token": token, "path": "nothing.txt"}
    )
    assert none.status_code == 404


def test_a_restore_that_meets_the_archive_offers_the_tiers_then_finishes(
    tmp_path: Path, aws_env: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    import os

    from tests.integration.test_archived_copies_moto import LARGE, archived_night

    bucket = moto_bucket[0]
    src = tmp_path / "office"
    files = {"scans/lease.pdf": os.urandom(LARGE), "scans/note.txt": b"small, stays in S3 Standard"}
    date, _ = archived_night(src, aws_env, moto_bucket, files)
    c = signed_in(bucket)
    to = tmp_path / "back"
    token = form_token(c.get("/sets/documents/restore", params={"date": date}).text)

    first = c.post(
        "/sets/documents/restore",
        data={"form_token": token, "date": date, "path": "", "target": str(to)},
    )
    page = finished(c, first.headers["location"])

    # THEN the page says what is in the archive and what each way back takes and costs
    assert "1 document(s) restored" in page and "1 could not be" in page
    assert "1 in GLACIER (0.2 MiB)" in page
    assert "Bulk: about 5-12 hours, about $0.00" in page
    assert "Expedited: about 1-5 minutes" in page
    assert tree(to) == {"scans/note.txt": b"small, stays in S3 Standard"}

    # WHEN the person picks the bulk tier: S3 is asked (moto brings it back at once)
    asked = c.post(first.headers["location"] + "/again", data={"form_token": token, "tier": "bulk"})
    assert asked.status_code == 303
    page = finished(c, asked.headers["location"])
    assert "1 document(s) are on their way back" in page
    assert "Bulk: about" not in page  # asked for: no tier offered (and paid) a second time

    # WHEN it is back and the person finishes the restore into the same folder
    again = c.post(asked.headers["location"] + "/again", data={"form_token": token})
    page = finished(c, again.headers["location"])

    assert "Done: 2 document(s)" in page and "1 of them were already in the folder" in page
    assert tree(to) == {
        p.relative_to(src).as_posix(): p.read_bytes() for p in src.rglob("*") if p.is_file()
    }
    # a tier that is not one, or a form from elsewhere, is refused
    assert (
        c.post(
            again.headers["location"] + "/again", data={"form_token": token, "tier": "x"}
        ).status_code
        == 400
    )
    assert c.post(again.headers["location"] + "/again", data={"tier": "bulk"}).status_code == 403


def test_the_alarms_show_when_they_can_be_read_and_say_so_when_not(
    office: dict[str, object],
) -> None:
    from docbackup.errors import AccessDenied

    bucket = str(office["bucket"])
    store = compose.backup_store(bucket, workers=4)
    states = {"office-BackupFailureAlarm-1X": "ALARM", "office-StaleSetsAlarm-2Y": "OK"}
    settings = Settings(bucket, "documents", 30, alarms=lambda: states)
    c = TestClient(
        make_app(lambda: store, settings, token=TOKEN, port=PORT),
        base_url=f"http://127.0.0.1:{PORT}",
    )
    page = c.get(f"/?token={TOKEN}").text
    assert (
        '<tr class="bad"><td>office-BackupFailureAlarm-1X</td><td data-label="state">ALARM' in page
    )
    assert "office-StaleSetsAlarm-2Y" in page

    asked: list[int] = []

    def refused() -> dict[str, str]:
        asked.append(1)
        raise AccessDenied("not authorized to perform: cloudwatch:DescribeAlarms")

    settings = Settings(bucket, "documents", 30, alarms=refused)
    c = TestClient(
        make_app(lambda: store, settings, token=TOKEN, port=PORT),
        base_url=f"http://127.0.0.1:{PORT}",
    )
    first = c.get(f"/?token={TOKEN}").text
    again = c.get("/").text
    for page in (first, again):
        assert "could not be read with these credentials" in page and "DescribeAlarms" in page
        assert "It can be restored in full." in page  # the rest of the page is there
    assert asked == [1]  # asked once, not on every page
