"""Whatever tree a user has, two nights of it restore byte for byte (issue 13: trees).

Hypothesis builds the trees: names with spaces, dots, case variants of one another, accents in
both Unicode forms, names at the length limit, empty files and folders nested a few deep; the
second night changes, adds and removes some of them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docbackup.engine import BackupOptions, backup, restore
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend
from tests.treebuilder import tree_hashes, write

NIGHT1 = dt.date(2025, 10, 14)
NIGHT2 = dt.date(2025, 10, 15)
ENC = Encryption("aws:kms", "k")

_LETTERS = st.sampled_from(["a", "B", "é", "e\u0301", " ", ".", "-", "_", "ß", "日", "~", "#"])
NAME = st.one_of(
    st.lists(_LETTERS, min_size=1, max_size=12).map("".join),
    st.sampled_from(["Report", "report", "REPORT", "x" * 255, "é" * 127, "a.b.c", "-", "~x"]),
).filter(lambda n: n not in (".", "..") and not n.startswith(".docbackup"))
PATH = st.lists(NAME, min_size=1, max_size=4).map("/".join)
CONTENT = st.one_of(
    st.binary(max_size=64), st.just(b""), st.binary(min_size=1).map(lambda b: b * 997)
)


def _fits(paths: dict[str, bytes]) -> dict[str, bytes]:
    """Drop paths that cannot all be files at once (one a folder of another) or that the
    file system would not hold (a component longer than 255 bytes)."""
    kept: dict[str, bytes] = {}
    for path, data in sorted(paths.items(), key=lambda kv: kv[0].count("/")):
        parts = path.split("/")
        if any(len(p.encode()) > 255 for p in parts):
            continue
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if prefixes & kept.keys() or any(k.startswith(path + "/") for k in kept):
            continue
        kept[path] = data
    return kept


TREE = st.dictionaries(PATH, CONTENT, min_size=1, max_size=12).map(_fits).filter(bool)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(TREE, TREE, st.data())
def test_any_two_nights_restore_byte_for_byte(
    first: dict[str, bytes], extra: dict[str, bytes], data: st.DataObject
) -> None:
    backend = MemoryBackend(known_kms_keys=("k",))
    backend.create_bucket("backups", default_encryption=ENC)
    store = backend.store("backups")
    top = tempfile.mkdtemp()
    try:
        src = os.path.join(top, "office")
        os.mkdir(src)
        for path, content in first.items():
            write(src, path, content)
        expected1 = tree_hashes(src)
        one = backup(store, LocalSource(src), BackupOptions(date=NIGHT1, encryption=ENC, workers=2))
        assert one.status == "complete", one

        # The second night: some removed, some rewritten, some added where they fit.
        for path in data.draw(st.lists(st.sampled_from(sorted(first)), unique=True)):
            os.remove(os.path.join(src, path))
        for path, content in _fits({**first, **extra}).items():
            if path in extra:
                # A file where its folder would go, or the reverse: not this one.
                with contextlib.suppress(NotADirectoryError, IsADirectoryError, FileExistsError):
                    write(src, path, content)
        expected2 = tree_hashes(src)
        two = backup(
            store,
            LocalSource(src),
            BackupOptions(date=NIGHT2, encryption=ENC, workers=2, allow_empty=True),
        )
        assert two.status == "complete", two

        for date, expected in ((NIGHT1, expected1), (NIGHT2, expected2)):
            target = os.path.join(top, f"restored-{date}")
            result = restore(store, "documents", date.isoformat(), target, workers=2)
            assert (result.status, result.failed) == ("complete", 0), result
            assert tree_hashes(target) == expected
            # Names come back as the user's file system spelled them, NFC or NFD.
            names = {unicodedata.normalize("NFC", p) for p in expected}
            assert {unicodedata.normalize("NFC", p) for p in tree_hashes(target)} == names
    finally:
        shutil.rmtree(top)
