"""Where the tests keep what a person may want to look at afterwards (screenshots of the web
app): `build/test-artefacts/` in the checkout, or DOCBACKUP_TEST_ARTEFACTS. Kept between runs,
replaced by the next, never committed (build/ is ignored)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def artefact_dir(name: str) -> Path:
    base = Path(os.environ.get("DOCBACKUP_TEST_ARTEFACTS") or ROOT / "build" / "test-artefacts")
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path
