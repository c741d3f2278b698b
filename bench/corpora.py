"""The deterministic source trees of bench/compare.py, and the 1 % of documents a night changes.

"docs": `sample.generate(root, N, seed=7, median=60_000)` plus, unless the tree already has one,
one scan above 20 MB. "many": `sample.generate(root, N, seed=7, median=8_000)`. "scaling":
tiny documents (median 2,000 bytes) for the no-change scaling run.
"""

from __future__ import annotations

import os
import random
import statistics
from dataclasses import dataclass

from docbackup.sandbox import sample

SEED = 7
BIG_LIMIT = 20 * 1000 * 1000  # "above 20 MB"
BIG_NAME = "scans/2024/Archive scan 0001.pdf"
BIG_SIZE = 21 * 1000 * 1000
MEDIANS = {"docs": 60_000, "many": 8_000, "scaling": 2_000}
COUNTS = {"docs": 500, "many": 20_000}


@dataclass(frozen=True)
class Stats:
    documents: int
    bytes: int
    median: int
    largest: int
    above_20mb: int


def generate(name: str, root: str, count: int) -> None:
    sample.generate(root, count, seed=SEED, median=MEDIANS[name])
    if name == "docs" and stats(root).above_20mb == 0:
        rng = random.Random(SEED)
        sample.write(root, BIG_NAME, rng.randbytes(BIG_SIZE))


def files(root: str) -> list[str]:
    """Every regular file under root, relative, sorted: the order changes are drawn from."""
    found = [
        os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
        for folder, _dirs, names in os.walk(root)
        for name in names
    ]
    return sorted(found)


def stats(root: str) -> Stats:
    sizes = [os.path.getsize(os.path.join(root, rel)) for rel in files(root)]
    return Stats(
        documents=len(sizes),
        bytes=sum(sizes),
        median=int(statistics.median(sizes)) if sizes else 0,
        largest=max(sizes, default=0),
        above_20mb=sum(size > BIG_LIMIT for size in sizes),
    )


def change_one_percent(root: str, salt: str) -> list[str]:
    """Rewrite 1 % of the documents (at least one) with new random bytes of a similar size
    (within 10 %), so that size and mtime change. The same root and salt pick the same files.
    A scan above 20 MB only grows, so the docs corpus keeps its one large document."""
    rng = random.Random(f"{SEED}-change-{salt}")
    names = files(root)
    chosen = sorted(rng.sample(names, max(1, round(len(names) / 100))))
    for rel in chosen:
        old = os.path.getsize(os.path.join(root, rel))
        size = max(1, round(old * rng.uniform(1.0 if old > BIG_LIMIT else 0.9, 1.1)))
        if size == old:
            size += 1
        sample.write(root, rel, rng.randbytes(size))
    return chosen
