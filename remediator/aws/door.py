"""The door every AWS call goes through: discovery, apply and rollback, the
fleet (STS, Organizations, DescribeRegions), SNS and the DynamoDB lock table.

One door holds the run's clients (made once per service and region), the
run's ``mode`` (set once: in ``check`` mode every write is refused, so a bug
cannot turn a dry-run into a change), and one of two retry policies:

* ``"door"`` (apply and rollback): retries with capped, jittered backoff on
  what AWS asks to retry (throttling, conflicts, 5xx, connection failures),
  honours ``Retry-After`` and rate-limits Lambda's control plane; a failure
  for good is ``AwsCallFailed``;
* ``"botocore"`` (discovery and the fleet): one door attempt, botocore's
  adaptive retries underneath (``session.client_config``). It keeps
  discovery's call counts and timing exactly as botocore shapes them (its
  token bucket already paces Lambda's throttling); a failure is translated
  into a one-line ``AwsAccessError`` (``aws.errors``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from remediator.aws.errors import call_failed, translate_error
from remediator.aws.session import ClientFactory, executor_config
from remediator.domain.mode import Mode, mode_for

__all__ = ["Aws", "RateLimiter", "Settings", "executor_config", "full_jitter", "no_jitter"]

log = structlog.get_logger(__name__)

Retry = Literal["door", "botocore"]

READ_PREFIXES = ("Describe", "Get", "List")
BOOKKEEPING = frozenset({"sts:AssumeRole", "sns:Publish"})
"""Non-read operations that change nothing remediator remediates (reaching a
member account, telling someone): allowed in check mode too."""
RETRYABLE = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ResourceConflictException",
        "ServiceUnavailable",
        "ServiceException",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        "EC2ThrottledException",
        "IncorrectState",
    }
)
# Connection-level failures worth another attempt; a malformed request or
# missing credentials is not.
TRANSIENT = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


def no_jitter(delay: float) -> float:
    """The identity jitter: tests that assert exact sleeps pass it."""
    return delay


def full_jitter(delay: float) -> float:
    """A backoff delay spread over [delay/2, delay], so that runs throttled
    together do not retry together."""
    return delay / 2 + random.random() * delay / 2  # not for secrets


@dataclass
class RateLimiter:
    """A token bucket: at most ``rate`` calls per second (Lambda's control
    plane allows about 15)."""

    rate: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    _next: float = 0.0

    def acquire(self) -> None:
        now = self.clock()
        if self._next > now:
            self.sleep(self._next - now)
            # read the clock again: a sleep that overran must push the next
            # slot back, or a late request is followed by an early one
            now = self.clock()
        self._next = max(now, self._next) + 1.0 / self.rate


@dataclass
class Settings:
    """Door knobs; tests shrink the timeouts and inject the clock, the sleep
    and the jitter (``no_jitter`` to assert exact sleeps)."""

    max_attempts: int = 10
    base_delay: float = 0.5
    max_delay: float = 20.0
    lambda_rate: float = 15.0
    settle_timeout: float = 900.0
    poll_interval: float = 5.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float], float] = full_jitter


_API_NAMES: dict[str, str] = {}


def api_name(operation: str) -> str:
    """``describe_route_tables`` -> ``DescribeRouteTables``."""
    name = _API_NAMES.get(operation)
    if name is None:
        name = _API_NAMES[operation] = "".join(p.capitalize() for p in operation.split("_"))
    return name


class Aws:
    """Clients for one run, with the mode guard and a retry policy (see the module)."""

    def __init__(
        self,
        client_factory: ClientFactory,
        settings: Settings | None = None,
        *,
        mode: Mode | None = None,
        dry_run: bool = False,
        retry: Retry = "door",
    ) -> None:
        self.client_factory = client_factory
        self.settings = settings or Settings()
        self._mode: Mode = mode or mode_for(dry_run)
        self.retry: Retry = retry
        self._clients: dict[tuple[str, str], Any] = {}
        self._guard = threading.Lock()
        self._limiter: RateLimiter | None = None
        self.calls: list[str] = []
        self.retries = 0
        self.plan_id = ""
        # the apply run's id (a resumed run keeps the interrupted run's): with
        # the change id, it makes the ClientToken of a create, so a retried
        # create gets the resource its first attempt made and another run of
        # the same plan a new one
        self.run_id = ""
        self.last_api = ""
        # set by apply_changes: journals what a multi-call change has done so
        # far, so a kill between its calls still leaves a record rollback can use
        self.on_progress: Callable[[dict[str, Any] | None], None] | None = None
        # set by run.lock.held: raises (LockLost) once the run's lock is no
        # longer its own, so the run stops before its next write
        self.write_guard: Callable[[], None] | None = None

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def dry_run(self) -> bool:
        """``mode == "check"`` (read-only: the mode is set once)."""
        return self._mode == "check"

    def progress(self, partial: dict[str, Any] | None) -> None:
        """Journal what a change has made so far; ``None``: it took its own
        partial work back, nothing of it is in effect."""
        if self.on_progress is not None:
            self.on_progress(partial)

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        client = self._clients.get(key)
        if client is None:
            with self._guard:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = self.client_factory(service, region)
        return client

    def _admit(self, service: str, api: str) -> None:
        """The mode guard: in check mode, only reads and ``BOOKKEEPING`` pass,
        before any client is made; any other write first asks the run's
        ``write_guard`` (its lock is still its own)."""
        if api.startswith(READ_PREFIXES) or f"{service}:{api}" in BOOKKEEPING:
            return
        if self._mode == "check":
            raise AssertionError(f"dry-run must not call {service}:{api}")
        if self.write_guard is not None:
            self.write_guard()

    def call(self, service: str, region: str, operation: str, **params: Any) -> dict[str, Any]:
        """Call ``operation`` (snake_case name) under the door's retry policy.
        ``calls`` and ``last_api`` record the ``door`` policy's calls (apply's
        record); discovery counts its own (``discover.CallCounter``)."""
        api = api_name(operation)
        self._admit(service, api)
        client = self.client(service, region)
        if self.retry == "botocore":
            with _Translated(client, service, api, region):
                response: dict[str, Any] = getattr(client, operation)(**params)
            return response
        self.last_api = f"{service}:{api}"
        return self._retried(client, service, region, operation, api, params)

    def items(
        self, service: str, region: str, operation: str, key: str, **params: Any
    ) -> Iterator[Any]:
        """The ``key`` items of a read, page by page (a page can be dropped as
        soon as its items are consumed), following pagination when botocore
        can; botocore's retries, failures translated as in ``call``."""
        api = api_name(operation)
        self._admit(service, api)
        client = self.client(service, region)
        with _Translated(client, service, api, region):
            if client.can_paginate(operation):
                for page in client.get_paginator(operation).paginate(**params):
                    yield from page.get(key, [])
            else:
                yield from getattr(client, operation)(**params).get(key, [])

    def _retried(
        self, client: Any, service: str, region: str, operation: str, api: str, params: Any
    ) -> dict[str, Any]:
        s = self.settings
        if service == "lambda" and self._limiter is None:
            self._limiter = RateLimiter(s.lambda_rate, s.clock, s.sleep)
        delay = s.base_delay
        for attempt in range(1, s.max_attempts + 1):
            if service == "lambda" and self._limiter is not None:
                self._limiter.acquire()
            self.calls.append(f"{service}:{api}")
            try:
                return dict(getattr(client, operation)(**params))
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                meta = exc.response.get("ResponseMetadata", {})
                status = int(meta.get("HTTPStatusCode", 0) or 0)
                if (code in RETRYABLE or status >= 500) and attempt < s.max_attempts:
                    self.retries += 1
                    retry_after = meta.get("HTTPHeaders", {}).get("retry-after")
                    wait = (
                        float(retry_after)
                        if retry_after and str(retry_after).isdigit()
                        else s.jitter(delay)
                    )
                    log.info(
                        "call_retried",
                        operation=f"{service}:{api}",
                        code=code,
                        attempt=attempt,
                        wait=wait,
                    )
                    s.sleep(min(wait, s.max_delay))
                    delay = min(delay * 2, s.max_delay)
                    continue
                raise call_failed(exc, service, api, region, code, status) from exc
            except TRANSIENT as exc:
                if attempt < s.max_attempts:
                    self.retries += 1
                    s.sleep(min(s.jitter(delay), s.max_delay))
                    delay = min(delay * 2, s.max_delay)
                    continue
                raise call_failed(exc, service, api, region) from exc
            except ParamValidationError:
                raise  # a request this code built wrong: a bug, not an AWS failure
            except BotoCoreError as exc:
                raise call_failed(exc, service, api, region) from exc
        raise AssertionError("unreachable")


class _Translated:
    """Turns a botocore failure of one call into its one-line remediator error."""

    def __init__(self, client: Any, service: str, api: str, region: str) -> None:
        self.client, self.service, self.api, self.region = client, service, api, region

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if not isinstance(exc, ClientError | BotoCoreError):
            return False
        meta = getattr(self.client, "meta", None)
        translated = translate_error(
            exc,
            service=self.service,
            operation=self.api,
            region=self.region,
            endpoint_url=getattr(meta, "endpoint_url", None),
        )
        if translated is None:
            return False
        log.warning(
            "aws_call_failed",
            action=f"{self.service}:{self.api}",
            region=self.region,
            error=type(exc).__name__,
        )
        raise translated from exc
