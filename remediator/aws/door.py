"""The door every AWS call of apply and rollback goes through.

Retries with capped backoff on what AWS asks to retry (throttling, conflicts,
5xx, connection failures), honours ``Retry-After``, rate-limits Lambda's
control plane, and refuses any non-read operation in check (dry-run) mode, so
a bug cannot turn a dry-run into a change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from remediator import __version__
from remediator.aws.discover import translate_error
from remediator.domain.errors import AwsCallFailed

log = structlog.get_logger(__name__)

READ_PREFIXES = ("Describe", "Get", "List")
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
    """Executor knobs; tests shrink the timeouts and inject the clock."""

    max_attempts: int = 10
    base_delay: float = 0.5
    max_delay: float = 20.0
    lambda_rate: float = 15.0
    settle_timeout: float = 900.0
    poll_interval: float = 5.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def executor_config() -> Config:
    # One attempt per botocore call: the executor's own loop retries, with a
    # cap and backoff it controls (botocore's 3 attempts are not enough for
    # Lambda's control plane) and a sleep tests can inject.
    return Config(
        retries={"mode": "standard", "max_attempts": 1},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra=f"remediator/{__version__}",
    )


@dataclass
class Aws:
    """Clients for the run, with retries, rate limiting and the dry-run guard."""

    client_factory: Callable[[str, str], Any]
    settings: Settings = field(default_factory=Settings)
    dry_run: bool = False
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _limiter: RateLimiter | None = None
    calls: list[str] = field(default_factory=list)
    retries: int = 0
    plan_id: str = ""
    # the apply run's id (a resumed run keeps the interrupted run's): with the
    # change id, it makes the ClientToken of a create, so a retried create gets
    # the resource its first attempt made and another run of the same plan a
    # new one
    run_id: str = ""
    last_api: str = ""
    # set by apply_changes: journals what a multi-call change has done so far,
    # so a kill between its calls still leaves a record rollback can use
    on_progress: Callable[[dict[str, Any] | None], None] | None = None

    def progress(self, partial: dict[str, Any] | None) -> None:
        """Journal what a change has made so far; ``None``: it took its own
        partial work back, nothing of it is in effect."""
        if self.on_progress is not None:
            self.on_progress(partial)

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.client_factory(service, region)
        return self._clients[key]

    def call(self, service: str, region: str, operation: str, **params: Any) -> dict[str, Any]:
        """Call ``operation`` (snake_case name) with retries on what AWS asks to retry."""
        api = "".join(part.capitalize() for part in operation.split("_"))
        if self.dry_run and not api.startswith(READ_PREFIXES):
            raise AssertionError(f"dry-run must not call {service}:{api}")
        client = self.client(service, region)
        self.last_api = f"{service}:{api}"
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
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                if (code in RETRYABLE or status >= 500) and attempt < s.max_attempts:
                    self.retries += 1
                    retry_after = (
                        exc.response.get("ResponseMetadata", {})
                        .get("HTTPHeaders", {})
                        .get("retry-after")
                    )
                    wait = (
                        float(retry_after) if retry_after and str(retry_after).isdigit() else delay
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
                raise _failed(exc, service, api, region, code, status) from exc
            except TRANSIENT as exc:
                if attempt < s.max_attempts:
                    self.retries += 1
                    s.sleep(min(delay, s.max_delay))
                    delay = min(delay * 2, s.max_delay)
                    continue
                raise _failed(exc, service, api, region) from exc
            except ParamValidationError:
                raise  # a request this code built wrong: a bug, not an AWS failure
            except BotoCoreError as exc:
                raise _failed(exc, service, api, region) from exc
        raise AssertionError("unreachable")


def _failed(
    exc: Exception, service: str, api: str, region: str, code: str = "", status: int = 0
) -> AwsCallFailed:
    """The one-line, botocore-free form of a failed call."""
    return AwsCallFailed(
        _error_text(exc, service, api, region),
        service=service,
        operation=api,
        code=code,
        status=status,
    )


def _error_text(exc: BaseException, service: str, operation: str, region: str) -> str:
    translated = (
        translate_error(exc, service=service, operation=operation, region=region, endpoint_url=None)
        if isinstance(exc, Exception)
        else None
    )
    return str(translated or exc)
