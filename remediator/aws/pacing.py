"""Lambda's control-plane quota, kept on the client side while discovery reads.

Lambda allows 15 control-plane requests a second per account and Region,
across all its APIs ("not 15 requests per second per API"), invocation,
``GetFunction`` and ``GetPolicy`` excepted (Lambda quotas). Discovery's
``ListFunctions`` pages and ``ListAliases`` reads sent back to back run
faster than that wherever a call takes less than 66 ms, and every one
beyond the quota comes back ``TooManyRequestsException``: botocore's
adaptive retries then slow down, but each throttled call costs a round trip
and a backoff, and the same quota serves the account's deployments. So each
Lambda client discovery makes (one per account and Region) sends at most
``rate`` requests a second after a burst of ``burst``: a small account is
never slowed, a large one reads at the quota instead of past it. The burst
is kept below the quota's own so that requests arriving a little unevenly
(the network adds its jitter to the pacer's spacing) still find a token.

The pacer hooks botocore's ``before-call`` event, once per logical call (a
page is a call; a retry is paced by botocore's adaptive mode, which is
already slowing down when one happens).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# Lambda operations with a quota of their own, outside the shared 15 a second
OWN_QUOTA = frozenset(
    {"Invoke", "InvokeAsync", "InvokeWithResponseStream", "GetFunction", "GetPolicy"}
)

RATE = 15.0
BURST = 10.0


class LambdaPacer:
    """A token bucket for one Lambda client: ``rate`` calls a second, at most
    ``burst`` at once; ``waited`` is the time it held calls back."""

    def __init__(
        self,
        rate: float = RATE,
        burst: float = BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a pacer needs a rate above 0 and a burst of at least 1")
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = burst
        self._at: float | None = None
        self._lock = threading.Lock()
        self.waited = 0.0
        self._unique_id = f"remediator-lambda-pacer-{id(self)}"

    def acquire(self) -> None:
        """Take one token, sleeping until there is one. Callers queue in
        turn: a token is reserved before the sleep, so two threads never
        wait for the same one."""
        with self._lock:
            now = self._clock()
            if self._at is not None:
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self.waited += wait
            self._sleep(wait)

    def attach(self, client: Any) -> Any:
        """Pace the calls of ``client`` (a Lambda client) that draw on the
        shared quota; returns the client."""
        # every operation's event: botocore's aliasing of service names
        # leaves a handler registered under "before-call.lambda" unheard
        client.meta.events.register_first(
            "before-call.*.*", self._before_call, unique_id=self._unique_id
        )
        return client

    def _before_call(self, model: Any = None, **_: Any) -> None:
        if (
            model is not None
            and model.service_model.service_name == "lambda"
            and model.name not in OWN_QUOTA
        ):
            self.acquire()
