"""Restore never writes outside its target folder, whatever a manifest says."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from docbackup.engine.paths import UnsafePath, prepare_parent, safe_parts

SEGMENTS = st.sampled_from(["..", ".", "", "a", "b c", "C:", "\x00", "/", "\\", "é", "~"])
PATHS = st.one_of(
    st.lists(SEGMENTS, min_size=1, max_size=6).map("/".join),
    st.text(min_size=0, max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(PATHS)
def test_any_path_is_refused_or_lands_inside(path: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        try:
            parts = safe_parts(path)
        except UnsafePath:
            return
        parent = prepare_parent(root, parts)
        dest = os.path.realpath(os.path.join(parent, parts[-1]))
        assert os.path.commonpath([dest, os.path.realpath(root)]) == os.path.realpath(root)


def test_symlink_already_in_target_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "docs")
    try:
        prepare_parent(str(target), ["docs", "a.txt"])
    except UnsafePath as exc:
        assert "symbolic link" in str(exc)
    else:
        raise AssertionError("restored through a symlink")
    assert list(outside.iterdir()) == []
