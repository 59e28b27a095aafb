"""The Lambda handler: ``remediator.cli.handler.handler`` (the name the
CloudFormation template of `remediate deploy-template` gives the function).

It runs what `remediate event` runs, with its settings from the environment
(``remediator.run.event_config.ENVIRONMENT``; docs/operator.md,
"Environment variables"), and returns the summary `remediate event` prints
as its last line: for an SQS batch with ``batchItemFailures`` (the function's
event source mapping must report batch item failures). One event delivered
straight from EventBridge that came before its change settled raises
``RetryLater``: Lambda retries an asynchronous invocation that fails.

The periodic sweep's schedule sends ``SWEEP_EVENT`` (``{"remediator":
"sweep"}``): the handler then runs ``auto`` over ``REMEDIATOR_REGIONS`` (and,
with ``REMEDIATOR_ROLE_ARN``, the organization's accounts) and returns
``auto``'s summary.
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
    from remediator.domain.events import is_sweep

    if is_sweep(event):
        return _sweep(config)
    summary = event_config.handle(event, config, default_deps(_now), _now)
    data = summary.to_json()
    if summary.exit_code == EXIT_RETRY:
        raise RetryLater(f"retry later: {[i['reason'] for i in data['events']['retry']]}")
    return data


def _sweep(config: Any) -> dict[str, Any]:
    """``SWEEP_EVENT``: ``auto`` with the handler's settings; its summary."""
    import dataclasses
    from functools import partial
    from pathlib import Path

    from remediator.cli.app import _signer, _trust
    from remediator.domain.errors import RemediatorError
    from remediator.run import auto as running
    from remediator.run import event_config
    from remediator.run.verify import check_option, make_verifier

    deps = running.Deps(verifier=partial(make_verifier, check=check_option("model")), now=_now)
    run_id = running.new_run_id()
    try:
        trust = None
        if config.signing_key:
            policy = event_config._policy(config, deps.make_session(None), config.region or "")
            signer = _signer(config.signing_key, None, config.endpoint_url, config.region)
            trust = _trust(signer, False, policy)
        summary = event_config.sweep(dataclasses.replace(config, run_id=run_id), deps, trust)
    except RemediatorError as exc:
        summary = running.RunSummary(
            run_id=run_id,
            started_at=_now(),
            out_dir=Path(config.out_dir),
            max_risk=config.max_risk,
            max_changes=config.max_changes,
            dry_run=config.dry_run,
            finished_at=_now(),
            error=" ".join(str(exc).split()),
        )
    return dict(summary.to_json())
