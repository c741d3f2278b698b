"""Restore never writes outside its target folder, whatever a manifest says."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from hypothesis import given, settings
from hypothesis import strategies as st

from docbackup.engine.paths import UnsafePath, safe_parts
from docbackup.engine.target import Target

SEGMENTS = st.sampled_from(
    ["..", ".", "", "a", "b c", "C:", "\x00", "/", "\\", "é", "~", "\ud800", "\udcff", "x" * 255]
)
PATHS = st.one_of(
    st.lists(SEGMENTS, min_size=1, max_size=6).map("/".join),
    st.text(st.characters(exclude_categories=()), min_size=0, max_size=40),
)


def _fill(out: BinaryIO) -> None:
    out.write(b"restored")


@settings(max_examples=400, deadline=None, derandomize=True)
@given(PATHS)
def test_any_path_is_refused_or_lands_inside(path: str) -> None:
    with tempfile.TemporaryDirectory() as top:
        root = os.path.join(top, "target")
        try:
            parts = safe_parts(path)
        except UnsafePath:
            return
        with Target(root) as target:
            try:
                target.write(parts, _fill, 0, overwrite=False)
            except OSError:
                return  # e.g. a name too long for the file system: reported, not written
        written = [os.path.join(d, f) for d, _, files in os.walk(top) for f in files]
        assert written == [os.path.join(root, *parts)]


def test_symlink_already_in_target_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "docs")
    with Target(str(target)) as t:
        try:
            t.write(["docs", "a.txt"], _fill, 0, overwrite=False)
        except UnsafePath as exc:
            assert "symbolic link" in str(exc)
        else:
            raise AssertionError("restored through a symlink")
    assert list(outside.iterdir()) == []
