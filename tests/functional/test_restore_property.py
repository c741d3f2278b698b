"""Whatever paths a manifest lists, restore creates or changes nothing outside its target."""

from __future__ import annotations

import datetime as dt
import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from docbackup.engine import restore
from docbackup.storage import Encryption, MemoryBackend
from tests.handmade import write_snapshot

DATE = dt.date(2025, 10, 15)
PARTS = st.sampled_from(["..", ".", "", "a", "b", "C:", "c:\\x", "\x00", "/", "\\", "é", " "])
PATH = st.one_of(
    st.lists(PARTS, min_size=1, max_size=5).map("/".join),
    st.text(min_size=1, max_size=30),
)


def snapshot(paths: list[str]) -> MemoryBackend:
    backend = MemoryBackend(known_kms_keys=("k",))
    backend.create_bucket("b", default_encryption=Encryption("aws:kms", "k"))
    write_snapshot(backend.store("b"), DATE, paths, Encryption("aws:kms", "k"))
    return backend


def everything(root: str) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        found.update(os.path.join(folder, n) for n in dirs + files)
    return found


@settings(max_examples=150, deadline=None)
@given(st.lists(PATH, min_size=1, max_size=6))
def test_restore_stays_inside_its_target(paths: list[str]) -> None:
    try:
        backend = snapshot(paths)
    except UnicodeEncodeError:
        return  # not a name S3 could hold
    with tempfile.TemporaryDirectory() as outer:
        target = os.path.join(outer, "deep", "target")
        os.makedirs(os.path.join(outer, "deep", "sibling"))
        before = everything(outer) - everything(target)

        restore(backend.store("b"), "documents", DATE.isoformat(), target)

        outside = everything(outer) - everything(target) - {target}
        assert outside == before
