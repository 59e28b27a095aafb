"""The Lambda handler: ``remediator.cli.handler.handler`` (the name the
CloudFormation template of `remediate deploy-template` gives the function).

It runs what `remediate event` runs, with its settings from the environment
(``remediator.run.event_config.ENVIRONMENT``; docs/operator.md,
"Environment variables"), and returns the summary `remediate event` prints
as its last line: for an SQS batch with ``batchItemFailures`` (the function's
event source mapping must report batch item failures). One event delivered
straight from EventBridge that came before its change settled raises
``RetryLater``: Lambda retries an asynchronous invocation that fails.
"""

from __future__ import annotations

import os
from typing import Any

from remediator.domain.outcomes import EXIT_RETRY


class RetryLater(Exception):
    """The event came before its change settled: invoke again later."""


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def handler(event: Any, context: Any) -> dict[str, Any]:
    """``event``: an EventBridge event or an SQS batch; ``context``: Lambda's (unused)."""
    from remediator import log
    from remediator.domain.errors import RemediatorError
    from remediator.run import event_config
    from remediator.run.event import default_deps

    try:
        config = event_config.from_environ(os.environ)
    except RemediatorError as exc:  # a bad variable: the summary says which, nothing ran
        config = event_config.EventConfig(out_dir="/tmp/remediator")
        summary = event_config.failed_config(str(exc), config, _now())
        return summary.to_json()
    level = os.environ.get("REMEDIATOR_LOG_LEVEL", "info")
    log.configure(level if level in log.LEVELS else "info")
    summary = event_config.handle(event, config, default_deps(_now), _now)
    data = summary.to_json()
    if summary.exit_code == EXIT_RETRY:
        raise RetryLater(f"retry later: {[i['reason'] for i in data['events']['retry']]}")
    return data
