"""The built wheel, installed in a fresh virtual environment outside the checkout, runs the demo.

This is what `pip install` or `pipx install` gives a user: everything `deploy` and `demo` read
has to be inside the package, since nothing beside the source tree is there. It needs PyPI for
the dependencies (pip's cache spares the downloads). On 2 cores it took 30 s, up to 70 s beside
other work; alone, 3-4 s build the wheel, 23-37 s install it and 14-18 s run the demo.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = "Scripts" if os.name == "nt" else "bin"


def _run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done.stdout


def test_the_wheel_installed_elsewhere_runs_the_demo(tmp_path: Path) -> None:
    # Nothing of this process's environment may lead back to the checkout or to an AWS account.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        and not k.startswith(("AWS_", "DOCBACKUP_"))
    }
    # GIVEN a wheel that pip builds from a copy of the sources, so that no build/ folder is left
    # in the checkout (nor a stale one from an earlier build read into this wheel). The copy
    # keeps the template's symlink, which resolves inside the copy as it does in the checkout.
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("src", "lib"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w", wheels],
        source,
        env,
    )
    (wheel,) = wheels.glob("docbackup-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        packaged = zf.read("docbackup/stack/TapStack.yml")
    assert packaged == (ROOT / "lib" / "TapStack.yml").read_bytes()

    # WHEN it is installed with the sandbox extra into a new virtual environment. The venv gets
    # no pip of its own (this one's installs into it: a few seconds less), and nothing is
    # byte-compiled up front (most of moto is never imported by the demo).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / BIN / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile"]
    _run([*pip, "-c", ROOT / "requirements.lock", f"{wheel}[sandbox]"], tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    imported = _run([python, "-c", "import docbackup; print(docbackup.__file__)"], elsewhere, env)
    assert Path(imported.strip()).resolve().is_relative_to(venv.resolve()), imported

    # THEN the demo deploys the packaged template and runs its nights from there
    demo = [venv / BIN / "docbackup", "demo", "--documents", "50", "--json"]
    printed = _run(demo, elsewhere, env)
    report = json.loads(printed)
    assert report["status"] == "ok", report["checks"]
    assert report["documents"] == 50
