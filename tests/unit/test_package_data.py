"""What `deploy` and `demo` read ships inside the package, from one copy in the checkout."""

from __future__ import annotations

from pathlib import Path

from docbackup.stack import deploy

ROOT = Path(__file__).resolve().parents[2]


def test_the_packaged_template_is_lib_tapstack_itself() -> None:
    # A copy would drift from lib/TapStack.yml, which checks outside the repo read; the
    # symlink keeps one source and setuptools ships its target's bytes.
    packaged = ROOT / "src" / "docbackup" / "stack" / "TapStack.yml"
    assert packaged.is_symlink()
    assert packaged.resolve() == (ROOT / "lib" / "TapStack.yml").resolve()
    assert deploy.TEMPLATE.read_bytes() == (ROOT / "lib" / "TapStack.yml").read_bytes()
