"""The local source yields documents in the order of their paths as strings.

The engine walks the source and the last manifest side by side, so this order is what lets a
night compare them without holding either in memory.
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from docbackup.sources.local import LocalSource

# Characters on either side of '/' in code point order, and one beyond ASCII.
_NAME = st.text(alphabet="-.0/aZé ", min_size=1, max_size=6).filter(
    lambda n: "/" not in n and n not in (".", "..") and n.strip() == n
)


def _trees() -> st.SearchStrategy[list[str]]:
    leaf = st.lists(_NAME, min_size=1, max_size=4, unique=True)
    folder = st.lists(_NAME, min_size=0, max_size=3, unique=True)
    return st.tuples(leaf, folder, leaf).map(
        lambda t: [*t[0], *(f"{d}/{f}" for d in t[1] if d not in t[0] for f in t[2])]
    )


@settings(max_examples=60, deadline=None)
@given(_trees())
def test_documents_come_in_path_order(paths: list[str]) -> None:
    with tempfile.TemporaryDirectory() as root:
        for rel in paths:
            full = os.path.join(root, rel)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(rel.encode())
        scan = LocalSource(root).scan()
        found = [d.path for d in scan.documents]
    assert found == sorted(paths)
    assert scan.skipped == []
