"""Apply throughput: N function updates through ``executor.Aws`` against a
Lambda stub that throttles above 15 requests per second.

The stub (``ThrottlingLambda``) keeps the arrival times (to the millisecond,
as a server stamps them) of the requests it accepted and answers
``TooManyRequestsException`` (HTTP 429, as Lambda does) to a request that
would make more than ``limit`` accepted requests within any window of
``window`` seconds: "at most 15 requests in any second". That is stricter
than a token bucket with a burst allowance: a client that paces itself at
exactly the limit but lets a late request be followed by an early one is
caught.

The client under test is the real ``executor.Aws`` with its real
``RateLimiter`` and retry loop; only the clock and the sleep are chosen:

* ``simulated`` (the default for the table): a virtual clock that sleep
  advances and that each request advances by ``latency`` seconds, so 10,000
  updates take a few seconds to measure while exercising exactly the code
  that runs against AWS (the limiter and the retries read the same clock the
  stub throttles on).
* ``real``: ``time.monotonic`` and ``time.sleep``, no added latency; a short
  run that shows the simulated figures hold on the wall clock.

``neighbour_rate`` adds another client spending the same account quota (a
deploy pipeline, say) at that many requests per second: remediate's requests
then get throttled, and every throttle must be retried, not reported as a
failed change.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

LAMBDA_RATE = 15.0


@dataclass
class SimClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@dataclass
class ThrottlingLambda:
    """``update_function_configuration`` that throttles like Lambda's control plane."""

    clock: Callable[[], float]
    advance: Callable[[float], None] | None = None  # simulated latency
    latency: float = 0.0
    limit: int = int(LAMBDA_RATE)
    window: float = 1.0
    accepted: deque[float] = field(default_factory=deque)
    neighbour_rate: float = 0.0  # another client of the same account's quota
    ok: int = 0
    throttled: int = 0
    neighbour_ok: int = 0
    _neighbour_next: float | None = None

    def _admit(self, now: float) -> bool:
        while self.accepted and self.accepted[0] <= round(now - self.window, 3):
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            return False
        self.accepted.append(now)
        return True

    def _neighbour(self, until: float) -> None:
        """The other client's requests up to ``until``, evenly spaced."""
        if not self.neighbour_rate:
            return
        if self._neighbour_next is None:
            self._neighbour_next = until
        while self._neighbour_next <= until:
            if self._admit(round(self._neighbour_next, 3)):
                self.neighbour_ok += 1
            self._neighbour_next += 1.0 / self.neighbour_rate

    def update_function_configuration(self, **params: Any) -> dict[str, Any]:
        now = round(self.clock(), 3)
        self._neighbour(now)
        if not self._admit(now):
            self.throttled += 1
            if self.advance is not None:
                self.advance(self.latency / 4)
            raise ClientError(
                {
                    "Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 429, "HTTPHeaders": {}},
                },
                "UpdateFunctionConfiguration",
            )
        self.ok += 1
        if self.advance is not None:
            self.advance(self.latency)
        return {"FunctionName": params.get("FunctionName"), "RevisionId": f"r-{self.ok}"}


def run(
    n: int,
    *,
    clock: str = "simulated",
    latency: float = 0.03,
    neighbour_rate: float = 0.0,
) -> dict[str, Any]:
    """Send ``n`` UpdateFunctionConfiguration calls through ``executor.Aws``.

    Returns the elapsed time (clock time from the first call to the return of
    the last), the requests per second, the ideal time (``n / 15`` s), the
    throttled responses the stub sent, the executor's retries, and the calls
    that failed (raised out of ``Aws.call``).
    """
    from remediator.aws.door import Aws, Settings

    if clock == "simulated":
        sim = SimClock()
        stub = ThrottlingLambda(
            clock=sim, advance=sim.sleep, latency=latency, neighbour_rate=neighbour_rate
        )
        settings = Settings(clock=sim, sleep=sim.sleep, lambda_rate=LAMBDA_RATE)
        now: Callable[[], float] = sim
    elif clock == "real":
        stub = ThrottlingLambda(clock=time.monotonic, neighbour_rate=neighbour_rate)
        settings = Settings(lambda_rate=LAMBDA_RATE)
        now = time.monotonic
    else:
        raise ValueError(f"clock must be simulated or real, not {clock!r}")

    aws = Aws(lambda service, region: stub, settings=settings)
    failures = 0
    start = now()
    for i in range(n):
        try:
            aws.call(
                "lambda",
                "us-east-1",
                "update_function_configuration",
                FunctionName=f"bench-{i:05d}",
                VpcConfig={"SubnetIds": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-a"]},
            )
        except ClientError:
            failures += 1
    elapsed = now() - start
    ideal = n / LAMBDA_RATE
    return {
        "clock": clock,
        "updates": n,
        "seconds": round(elapsed, 3),
        "ideal_seconds": round(ideal, 3),
        "requests_per_second": round(n / elapsed, 3) if elapsed else None,
        "efficiency": round(ideal / elapsed, 4) if elapsed else None,
        "throttled": stub.throttled,
        "retries": aws.retries,
        "failures": failures,
        "latency_seconds": latency if clock == "simulated" else None,
        "neighbour_rate": neighbour_rate,
        "neighbour_accepted": stub.neighbour_ok,
    }
