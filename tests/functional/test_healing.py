"""A copy gone from the bucket behind the backup's back is found by the next night, before its
manifest is written, and the document is stored again from the source (`healed`), at a cost of
listings, not of a request per copy."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import os
from pathlib import Path

from docbackup.engine import BackupOptions, Catalog, backup, restore, verify
from docbackup.engine.results import BackupResult
from docbackup.manifest import Entry
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, MemoryStore
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes, write

FIRST = dt.date(2026, 11, 20)
LEASE = "contracts/lease.pdf"
LEASE_BYTES = b"%PDF the lease, unchanged all month" * 50


def night(store: MemoryStore, src: Path, n: int, **extra: object) -> BackupResult:
    options = BackupOptions(
        date=FIRST + dt.timedelta(days=n), encryption=Encryption("aws:kms", KMS_KEY), **extra
    )
    return backup(store, LocalSource(str(src)), options)


def entry_of(store: MemoryStore, n: int, path: str) -> Entry:
    with Catalog(store, "documents").resolve((FIRST + dt.timedelta(days=n)).isoformat()) as s:
        (entry,) = [e for e in s.entries() if e.path == path]
    return entry


def office(tmp_path: Path) -> Path:
    src = tmp_path / "office"
    write(str(src), LEASE, LEASE_BYTES)
    write(str(src), "daily/till.csv", b"takings\n")
    return src


def lose_the_lease_after_one_night(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> Path:
    """The first night, then the lease's stored version deleted behind its back."""
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    lease = entry_of(store, 0, LEASE)
    backend.delete_version(store.bucket, lease.key, lease.version_id)
    return src


def test_a_deleted_copy_two_nights_share_is_sent_again_and_the_night_restores(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN two nights that point at one stored copy of the lease, and that version deleted
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    assert night(store, src, 1).status == "complete"
    lost = entry_of(store, 1, LEASE)
    assert lost.key == entry_of(store, 0, LEASE).key
    backend.delete_version(store.bucket, lost.key, lost.version_id)

    # WHEN the next night runs, with nothing changed at the source
    third = night(store, src, 2)

    # THEN it says what it found and what it did, and tonight's manifest points at a new copy
    assert third.status == "complete"
    assert (third.healed, third.unchanged, third.new, third.changed) == (1, 1, 0, 0)
    assert [p.path for p in third.lost] == [LEASE]
    assert "gone" in third.lost[0].reason and lost.key in third.lost[0].reason
    assert third.summary()["healed"] == 1
    healed = entry_of(store, 2, LEASE)
    assert healed.action == "healed" and healed.key != lost.key
    assert healed.sha256 == lost.sha256
    assert third.bytes_uploaded == len(LEASE_BYTES)
    # AND the night restores byte for byte, and verifies
    back = tmp_path / "back"
    assert restore(store, "documents", "latest", str(back)).status == "complete"
    assert tree_hashes(str(back)) == tree_hashes(str(src))
    assert verify(store, "documents", None, deep=True).status == "ok"
    # AND the nights before still say that they lost it
    older = verify(store, "documents", (FIRST + dt.timedelta(days=1)).isoformat())
    assert older.status == "mismatch"

    # AND the night after finds nothing to heal
    fourth = night(store, src, 3)
    assert (fourth.healed, fourth.lost, fourth.unchanged) == (0, (), 2)


def test_a_copy_of_another_size_or_hidden_by_a_later_write_is_healed(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN a copy whose bytes were replaced by shorter ones, and one a later write hid
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    lease, till = entry_of(store, 0, LEASE), entry_of(store, 0, "daily/till.csv")
    backend.damage(store.bucket, lease.key, lease.version_id, b"truncated")
    store.put(
        till.key,
        b"someone else's file",
        sha256_b64=base64.b64encode(hashlib.sha256(b"someone else's file").digest()).decode(),
        metadata={},
        encryption=Encryption("aws:kms", KMS_KEY),
    )

    # WHEN the next night runs
    second = night(store, src, 1)

    # THEN both are sent again, each with its reason
    assert (second.status, second.healed, second.unchanged) == ("complete", 2, 0)
    reasons = {p.path: p.reason for p in second.lost}
    assert "9 bytes in the bucket" in reasons[LEASE]
    assert "written over" in reasons["daily/till.csv"]
    back = tmp_path / "back"
    assert restore(store, "documents", "latest", str(back)).status == "complete"
    assert tree_hashes(str(back)) == tree_hashes(str(src))


def test_a_lost_copy_whose_document_changed_is_a_change_not_a_heal(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN the lease's copy deleted, and the lease edited at the source meanwhile
    src = lose_the_lease_after_one_night(tmp_path, store, backend)
    write(str(src), LEASE, b"%PDF the lease, signed again")

    second = night(store, src, 1)

    # THEN it is a change like any other: tonight does not point at the lost copy
    assert (second.changed, second.healed, second.lost) == (1, 0, ())


def test_a_dry_run_says_what_it_would_heal_and_stores_nothing(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    src = lose_the_lease_after_one_night(tmp_path, store, backend)
    before = {k: list(v) for k, v in backend._bucket(store.bucket, None).versions.items()}

    planned = night(store, src, 1, dry_run=True)

    assert (planned.healed, [p.path for p in planned.lost]) == (1, [LEASE])
    assert backend._bucket(store.bucket, None).versions == before


def test_a_no_change_night_confirms_its_copies_within_the_request_budget(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN 2,500 documents whose copies lie under three nights: 1,200 stored on the first,
    # 700 added on the second and 600 on the third
    src = tmp_path / "office"
    for n, added in ((0, range(0, 1200)), (1, range(1200, 1900)), (2, range(1900, 2500))):
        for i in added:
            write(str(src), f"f{i // 100:02d}/{i:04d}.txt", f"document {i}\n".encode())
        assert night(store, src, n).new == len(added)
    backend.requests.clear()

    # WHEN a night with no change runs
    quiet = night(store, src, 3)

    # THEN every copy was confirmed by listing versions, within ceil(N / 1000) + D + 5. (A
    # listing also pages through the copies under a night that later nights replaced: N is
    # the copies stored under those nights, which here are the documents.)
    assert (quiet.status, quiet.unchanged, quiet.healed) == ("complete", 2500, 0)
    assert backend.requests["ListObjectVersions"] == 2 + 1 + 1  # a page of 1,000 per request
    assert "HeadObject" not in backend.requests
    assert sum(backend.requests.values()) <= math.ceil(2500 / 1000) + 3 + 5, backend.requests

    # AND a copy deleted from the middle of the largest night's listing is still found
    victim = entry_of(store, 3, "f05/0555.txt")
    backend.delete_version(store.bucket, victim.key, victim.version_id)
    # and its file's status changed (a chmod): size and time equal, only the bytes can tell
    os.chmod(src / "f05" / "0555.txt", 0o644)
    healed = night(store, src, 4)
    assert (healed.healed, [p.path for p in healed.lost]) == (1, ["f05/0555.txt"])


def test_a_refused_listing_stores_the_night_and_says_it_could_not_confirm(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    # GIVEN credentials without s3:ListBucketVersions (an office machine whose stack is older)
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    write(str(src), "new.txt", b"new tonight")
    backend.denied_operations.add("ListObjectVersions")

    second = night(store, src, 1)

    # THEN the night is stored, but partial, naming the permission: not complete, not lost
    assert (second.status, second.new, second.unchanged, second.healed) == ("partial", 1, 2, 0)
    (failure,) = second.failures
    assert failure.path == f"backups/{FIRST}/documents/"
    assert "could not confirm" in failure.reason and "s3:ListBucketVersions" in failure.reason
    back = tmp_path / "back"
    tonight = (FIRST + dt.timedelta(days=1)).isoformat()
    # (a restore of a partial night says so, and still brings back every document it lists)
    assert restore(store, "documents", tonight, str(back)).restored == 3
    assert tree_hashes(str(back)) == tree_hashes(str(src))


def test_the_views_say_which_nights_lost_a_copy_and_never_call_them_restorable(
    tmp_path: Path, store: MemoryStore, backend: MemoryBackend
) -> None:
    from docbackup.cli import report_html
    from docbackup.engine import browse
    from docbackup.engine.watch import watch

    # GIVEN two nights sharing the lease's copy, that copy deleted, and a night that healed it
    src = office(tmp_path)
    assert night(store, src, 0).status == "complete"
    assert night(store, src, 1).status == "complete"
    lost = entry_of(store, 1, LEASE)
    backend.delete_version(store.bucket, lost.key, lost.version_id)
    assert night(store, src, 2).healed == 1
    now = dt.datetime.now(dt.UTC)

    # WHEN the nights are listed
    nights = {n.date: n for n in Catalog(store, "documents").snapshots(now=now)}

    # THEN the healing night restores and was checked; the two before it lack the lease
    third, second, first = (nights[FIRST + dt.timedelta(days=n)] for n in (2, 1, 0))
    assert (third.restorable, third.missing, third.healed) == (True, 0, 1)
    assert third.checked_at is not None
    for older in (second, first):
        assert (older.restorable, older.missing) == (False, 1)
        assert older.note is not None and LEASE in older.note
        assert f"found missing by the night of {FIRST + dt.timedelta(days=2)}" in older.note
        assert older.summary()["missing"] == 1
    # AND `ls` of an older night marks the document, not the others
    _, rows, _ = browse.ls(store, "documents", str(FIRST), "contracts")
    assert [(r.name, r.missing) for r in rows] == [("lease.pdf", 1)]
    _, top, _ = browse.ls(store, "documents", str(FIRST))
    assert {r.name: r.missing for r in top} == {"contracts": 1, "daily": 0}
    # AND the report says when the copies were last checked, what was healed, and every set
    page = report_html.render(
        list(nights.values()),
        bucket=store.bucket,
        set_name="documents",
        retention_days=30,
        today=FIRST + dt.timedelta(days=2),
        generated_at=now,
        watched=watch(store, now=now, retention_days=30),
    )
    assert "Last check of every copy a night points at" in page
    assert "1 document(s) stored again because their copy was gone or damaged" in page
    assert "2 copies that older nights point at are known missing" in page
    assert 'id="sets"' in page and "<td>documents</td>" in page
