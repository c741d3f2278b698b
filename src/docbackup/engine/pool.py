"""Running one function over many items on worker threads, a bounded number queued at a time."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

_END = object()


def run_bounded(
    workers: int,
    fn: Callable[[T], None],
    items: Iterable[T],
    *,
    name: str,
    stop: threading.Event | None = None,
) -> None:
    """`fn` on every item, at most one per worker queued beyond those running: items can be
    streamed from a manifest of any size while memory stays flat (a future per item of a
    20,000-file night held tens of MB). `fn` records its own failures; anything it raises is
    a crash: the items not started are dropped, and it propagates once the running calls
    are done.

    Interrupted (Ctrl-C, or a crash), the calls not started are dropped and `stop` is set, so
    the running ones can give up early and clean up after themselves before this returns.

    Plain threads on one queue, not an executor: `concurrent.futures.wait` hooks a waiter
    into every pending future each time one finishes, and with thousands of small documents
    that locking (futex calls by the hundred a document) cost more CPU than the documents."""
    halt = stop if stop is not None else threading.Event()
    work: queue.Queue[object] = queue.Queue(maxsize=workers)
    crashes: list[BaseException] = []

    def worker() -> None:
        while (item := work.get()) is not _END:
            if halt.is_set():
                continue  # dropped: the run is stopping
            try:
                fn(item)  # type: ignore[arg-type]
            except BaseException as exc:  # re-raised by the caller below
                crashes.append(exc)
                halt.set()

    threads = [
        threading.Thread(target=worker, name=f"{name}_{n}", daemon=True) for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        for item in items:
            if halt.is_set():
                break
            work.put(item)
    except BaseException:
        halt.set()
        raise
    finally:
        # Workers never block but on the queue, so these always go in; each ends one worker
        # once the items before it are done (or dropped).
        for _ in threads:
            work.put(_END)
        for thread in threads:
            thread.join()
    if crashes:
        raise crashes[0]
