"""The fleet's worker pool and the per-target client cache: the switch
interval while several workers run (restored after), every item worked and
reported in order, and a target's clients closed and forgotten on release."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from remediator.aws.session import ClientCache
from remediator.run import auto_pool


@pytest.fixture
def interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.mark.parametrize(
    ("start", "workers", "inside"),
    [
        (0.005, 8, auto_pool.SWITCH_SECONDS),  # the default: lowered while the pool runs
        (0.005, 1, 0.005),  # one worker: nothing to hand over
        (0.0001, 8, 0.0001),  # already smaller (the embedding program's): kept
    ],
)
def test_the_switch_interval_is_lowered_only_while_several_workers_run(
    interval: None, start: float, workers: int, inside: float
) -> None:
    sys.setswitchinterval(start)
    with auto_pool.quick_switching(workers):
        assert sys.getswitchinterval() == pytest.approx(inside, rel=0.05)
    assert sys.getswitchinterval() == pytest.approx(start, rel=0.05)
    with pytest.raises(RuntimeError), auto_pool.quick_switching(workers):
        raise RuntimeError("a failing pool restores it too")
    assert sys.getswitchinterval() == pytest.approx(start, rel=0.05)


def test_each_works_every_item_on_the_pool_and_reports_in_order(interval: None) -> None:
    seen: list[tuple[int, str]] = []
    reports: list[tuple[str, int, int]] = []
    guard = threading.Lock()
    inside: list[float] = []

    def work(item: int) -> None:
        with guard:
            seen.append((item, threading.current_thread().name))
            inside.append(sys.getswitchinterval())

    auto_pool.each(list(range(10)), work, 4, lambda *a: reports.append(a), "plan")
    assert sorted(i for i, _ in seen) == list(range(10))
    assert all(name.startswith("auto") for _, name in seen)
    assert reports == [("plan", n, 10) for n in range(1, 11)]
    assert inside == [pytest.approx(auto_pool.SWITCH_SECONDS, rel=0.05)] * 10
    assert sys.getswitchinterval() != pytest.approx(auto_pool.SWITCH_SECONDS)


def test_each_re_raises_what_work_raised() -> None:
    def work(item: int) -> None:
        if item == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        auto_pool.each(list(range(5)), work, 1, None, "apply")
    auto_pool.each([], work, 8, None, "apply")  # nothing to do: no pool


class _Client:
    def __init__(self, fail: bool) -> None:
        self.closed = 0
        self.fail = fail

    def close(self) -> None:
        self.closed += 1
        if self.fail:
            raise OSError("socket already gone")


class _Session:
    region_name = "us-east-1"
    events = None

    def __init__(self) -> None:
        self.made: list[_Client] = []

    def client(self, service: str, **kwargs: Any) -> _Client:
        made = _Client(fail=service == "ec2")
        self.made.append(made)
        return made


def test_a_closed_cache_closed_each_client_once_and_makes_new_ones_after() -> None:
    session = _Session()
    cache = ClientCache(session)
    first = [cache.client(s, region_name="us-east-1") for s in ("sts", "ec2", "lambda")]
    assert cache.client("sts", region_name="us-east-1") is first[0]  # cached
    cache.close()  # a client that fails to close does not stop the others
    assert [c.closed for c in first] == [1, 1, 1]
    again = cache.client("sts", region_name="us-east-1")
    assert again is not first[0] and len(session.made) == 4
    cache.close()
    assert [c.closed for c in first] == [1, 1, 1] and again.closed == 1
