"""Generated sample documents for the demo and the benchmarks (never the user's documents).

Sizes are log-normal around a median, like an office's invoices and memos, with a few large
scans; names and folders look like a small business's. The same seed gives the same tree.
"""

from __future__ import annotations

import hashlib
import math
import os
import random

KINDS = (
    ("invoices", "INV-{n:05d}.pdf"),
    ("contracts", "Contract {n:04d} - signed.pdf"),
    ("receipts", "receipt_{n:05d}.jpg"),
    ("reports", "Quarterly report {n:03d}.xlsx"),
    ("memos", "memo-{n:04d}.docx"),
)


def generate(root: str, count: int, *, seed: int = 1, median: int = 60_000) -> dict[str, str]:
    """Write `count` documents under `root`; return {relative path: sha256}."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not a secret
    hashes: dict[str, str] = {}
    for n in range(count):
        folder, pattern = KINDS[n % len(KINDS)]
        year = 2024 + (n // 7) % 2
        rel = f"{folder}/{year}/{pattern.format(n=n)}"
        # sigma 1.0 gives a few documents of several MB among 500 around 60 KB.
        size = min(int(rng.lognormvariate(math.log(median), 1.0)), 24 * 1024 * 1024)
        hashes[rel] = write(root, rel, rng.randbytes(size))
    return hashes


def write(root: str, rel: str, data: bytes) -> str:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def tree_hashes(root: str) -> dict[str, str]:
    """{relative path: sha256} of every regular file under root."""
    found: dict[str, str] = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root).replace(os.sep, "/")] = hashlib.sha256(
                    f.read()
                ).hexdigest()
    return found
