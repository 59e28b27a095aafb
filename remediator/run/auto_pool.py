"""The worker pool of `remediate auto`: each target of a phase on its own
task, ``concurrency`` at a time, in one process.

A fleet run's workers spend most of their time waiting for AWS; the CPU
they need (botocore's request signing and parsing, reports) is short and
serialized by the interpreter's lock. CPython hands that lock from a busy
thread to a waiting one only every ``sys.getswitchinterval()`` (5 ms by
default), so a worker whose answer has arrived may wait that long, at every
call, behind another worker's CPU: with 8 workers, several milliseconds per
call of a ~40 ms call. While a pool of more than one worker runs, the
interval is ``SWITCH_SECONDS`` (restored afterwards). Measured in
alternating runs of the 50-target fleet at concurrency 8 on a loaded 2-core
machine: 32.6 and 32.7 s against 34.3 and 36.6 s, the same CPU time.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

SWITCH_SECONDS = 0.0005
"""The interpreter's switch interval while several workers run (0.5 ms)."""


@contextmanager
def quick_switching(workers: int) -> Iterator[None]:
    """``SWITCH_SECONDS`` as the switch interval while ``workers`` (> 1) run;
    the interval as it was afterwards (never raised: a smaller one set by
    the embedding program is kept)."""
    before = sys.getswitchinterval()
    if workers > 1 and before > SWITCH_SECONDS:
        sys.setswitchinterval(SWITCH_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def each(
    items: Sequence[T],
    work: Callable[[T], None],
    concurrency: int,
    progress: Callable[[str, int, int], None] | None,
    phase: str,
) -> None:
    """``work(item)`` for every item, ``concurrency`` at a time; ``progress``
    after each, in order. A failure of ``work`` is its own to record (a
    raised exception is re-raised here, after the running tasks finish)."""
    if not items:
        return
    done = 0
    workers = max(1, min(concurrency, len(items)))
    with (
        quick_switching(workers),
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="auto") as pool,
    ):
        # Each task runs in a copy of this context: run_id is there, and what a
        # task binds (account, region, plan_id) does not leak into the next
        # task of the same worker thread.
        futures = [pool.submit(contextvars.copy_context().run, work, p) for p in items]
        try:
            for future in futures:
                future.result()
                done += 1
                if progress is not None:
                    progress(phase, done, len(items))
        except BaseException:
            # Ctrl-C: start no other target; the running ones finish their
            # step (an apply is never cut off between its journal lines).
            pool.shutdown(wait=True, cancel_futures=True)
            raise
