"""`remediate event FILE|-`: one EventBridge event, or an SQS batch of them.

Registered on the Typer app by ``remediator.cli.main``. The same code runs
as the Lambda handler (``remediator.cli.handler.handler``). Exit codes are
`remediate auto`'s (0, 6, 2, 3, 4, 5, 1) and 75 for one event that came
before its change settled (deliver it again later). The last line of
stdout is the summary as one line of JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from remediator.cli.app import NetworkRoleOpt, _errors, _now, _setup_logging
from remediator.cli.auto import (
    _DryRun,
    _Endpoint,
    _LockDir,
    _LockTable,
    _LogLevel,
    _MaxChanges,
    _MaxRisk,
    _NotifySns,
    _Policy,
    _Profile,
    default_lock_dir,
)

if TYPE_CHECKING:
    from remediator.run.event import EventSummary

MAX_EVENT_BYTES = 4 * 1024 * 1024
"""More than an SQS batch can hold (10 messages of 256 KiB), far less than memory."""

_File = Annotated[str, typer.Argument(help="The event or SQS batch (JSON); '-' reads stdin.")]
_Region = Annotated[
    str | None,
    typer.Option("--region", "-r", help="The region this operator serves. Default: AWS_REGION."),
]
_OutDir = Annotated[
    str,
    typer.Option(
        "--out-dir",
        help="Folder or s3://bucket/prefix for the runs (runs/<run id>/) and the markers of handled events (seen/<event id>.json). Keep it the same across runs.",
    ),
]
_DedupeTtl = Annotated[
    int,
    typer.Option(
        "--dedupe-ttl", min=0, help="Seconds an event id counts as handled (duplicates skipped)."
    ),
]
_KmsKey = Annotated[
    str | None,
    typer.Option(
        "--kms-key-id", help="With an S3 --out-dir: encrypt with this KMS key (default SSE-S3)."
    ),
]


def read_input(source: str) -> str:
    """The text of FILE, or of stdin for '-'; bounded, one ``BadInput`` line on failure."""
    from remediator.domain.errors import BadInput

    try:
        if source == "-":
            text = sys.stdin.read(MAX_EVENT_BYTES + 1)
        else:
            with Path(source).open(encoding="utf-8") as handle:
                text = handle.read(MAX_EVENT_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"Cannot read the event {source}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise BadInput(f"The event {source} is not UTF-8 text.") from None
    if len(text) > MAX_EVENT_BYTES:
        raise BadInput(f"The event {source} is larger than {MAX_EVENT_BYTES} bytes.")
    return text


def print_summary(summary: EventSummary) -> None:
    data = summary.to_json()
    events = data["events"]
    for key in ("handled", "ignored", "duplicates", "retry"):
        for item in events[key]:
            reason = f" ({item['reason']})" if item.get("reason") else ""
            typer.echo(f"{key:<10} {item['id']}  {item['name'] or '-'}{reason}")
    for t in summary.run.targets:
        line = f"{t.account_id}  {t.region:<15} {t.outcome:<20} applied {len(t.applied)}, left {t.left}"
        if t.error:
            line += f"  error: {t.error}"
        typer.echo(line)
    if summary.run.error:
        typer.echo(f"Error: {summary.run.error}", err=True)
    typer.echo(
        f"Run {summary.run.run_id}: {events['received']} event(s), "
        f"{len(events['handled'])} judged. Exit {summary.exit_code}."
    )
    typer.echo(json.dumps(data, sort_keys=True, separators=(",", ":")))


def event(
    source: _File,
    region: _Region = None,
    out_dir: _OutDir = "runs/events",
    max_risk: _MaxRisk = "low",
    max_changes: _MaxChanges = 25,
    policy: _Policy = None,
    notify_sns: _NotifySns = None,
    lock_table: _LockTable = None,
    lock_dir: _LockDir = None,
    dedupe_ttl: _DedupeTtl = 86_400,
    kms_key_id: _KmsKey = None,
    dry_run: _DryRun = False,
    profile: _Profile = None,
    endpoint_url: _Endpoint = None,
    log_level: _LogLevel = "info",
    network_role_arn: NetworkRoleOpt = None,
    role_arn: Annotated[
        str | None,
        typer.Option(
            "--role-arn",
            help="Role in member accounts, e.g. 'arn:aws:iam::{account_id}:role/remediator': "
            "their events (a central event bus) are judged through it.",
        ),
    ] = None,
) -> None:
    """Judge and fix what one EventBridge event (or an SQS batch) concerns, as `auto` would.

    Exit: 0 nothing to do, 6 fixed, 2 left for review, 3 stale, 4 rolled
    back, 5 rollback incomplete, 1 error, 75 retry later (the change has not
    settled). The last line of stdout is the summary as JSON.
    """
    with _errors():
        _setup_logging(log_level)
        from remediator.domain.errors import RemediatorError
        from remediator.run import event_config
        from remediator.run.event import default_deps

        config = event_config.EventConfig(
            out_dir=out_dir,
            policy=str(policy) if policy else None,
            region=region,
            max_risk=max_risk,
            max_changes=max_changes,
            notify_sns=notify_sns,
            lock_table=lock_table,
            lock_dir=lock_dir or default_lock_dir(),
            dry_run=dry_run,
            profile=profile,
            endpoint_url=endpoint_url,
            network_role_arn=network_role_arn,
            dedupe_ttl=dedupe_ttl,
            kms_key_id=kms_key_id,
            role_arn=role_arn,
        )
        try:
            text = read_input(source)
        except RemediatorError as exc:
            summary = event_config.failed_config(str(exc), config, _now())
        else:
            summary = event_config.handle(text, config, default_deps(_now), _now)
        print_summary(summary)
    raise typer.Exit(summary.exit_code)
