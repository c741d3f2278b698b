"""Running one function over many items on a thread pool, a bounded number queued at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")


def run_bounded(workers: int, fn: Callable[[T], None], items: Iterable[T], *, name: str) -> None:
    """`fn` on every item, at most two per worker queued: items can be streamed from a
    manifest of any size while memory stays flat (a future per item of a 20,000-file night
    held tens of MB). `fn` records its own failures; anything it raises is a crash and
    propagates once the queued calls are done."""
    limit = 2 * workers
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        pending: set[Future[None]] = set()
        try:
            for item in items:
                if len(pending) >= limit:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    _raise_crashes(done)
                pending.add(pool.submit(fn, item))
            _raise_crashes(wait(pending).done)
        except BaseException:
            # Stopped (a signal, a crash): the calls not yet started are not started; the
            # ones in hand finish, so no transfer is cut off half-way by this.
            pool.shutdown(cancel_futures=True)
            raise


def _raise_crashes(done: Iterable[Future[None]]) -> None:
    for future in done:
        future.result()
