"""What `remediate event` and the Lambda handler share: their settings, how
those become ``EventOptions`` (the policy from a file or S3, the out-dir a
folder or S3), and ``handle``, the one entry both call.

The handler reads its settings from the environment (``from_environ``;
docs/operator.md, "Environment variables"); with none set but ``AWS_REGION``
(all the Lambda runtime sets) it runs with the built-in policy, risk
``low``, artifacts and markers under ``/tmp`` and a lock file there.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediator.aws.artifact_store import S3Store, parse_url
from remediator.domain import events as ev
from remediator.domain.errors import BadInput, RemediatorError
from remediator.domain.plan import risk_rank
from remediator.domain.policy import (
    Policy,
    check_network_role,
    default_policy,
    load_policy,
    parse_policy,
)
from remediator.run import artifacts
from remediator.run import auto as running
from remediator.run.event import DEDUPE_TTL_SECONDS, EventOptions, EventSummary, failed, run

ENV_PREFIX = "REMEDIATOR_"
ENVIRONMENT: dict[str, str] = {
    "REMEDIATOR_POLICY": "policy TOML: a path in the package or /tmp, or s3://bucket/key",
    "REMEDIATOR_MAX_RISK": "low (default), medium or high",
    "REMEDIATOR_MAX_CHANGES": "at most this many changes per invocation (default 25)",
    "REMEDIATOR_OUT_DIR": "s3://bucket/prefix for artifacts and markers (default /tmp/remediator)",
    "REMEDIATOR_KMS_KEY_ID": "KMS key for the artifacts (default SSE-S3, AES256)",
    "REMEDIATOR_LOCK_TABLE": "DynamoDB lock table shared with the sweep (default: a /tmp lock file)",
    "REMEDIATOR_NOTIFY_SNS": "SNS topic ARN the run summary is published to",
    "REMEDIATOR_DRY_RUN": "1/true: plan and check, change nothing",
    "REMEDIATOR_NETWORK_ROLE_ARN": "role template ({account}) in shared VPCs' owner accounts",
    "REMEDIATOR_DEDUPE_TTL": "seconds an event id counts as seen (default 86400)",
    "REMEDIATOR_LOG_LEVEL": "debug, info (default), warning or error",
    "REMEDIATOR_REGIONS": "the sweep's regions, comma-separated (default: AWS_REGION)",
    "REMEDIATOR_ROLE_ARN": "role template ({account_id}) in member accounts: their events, the sweep",
    "REMEDIATOR_ORGANIZATION": "1/true: the sweep covers every account of the organization",
    "REMEDIATOR_SIGNING_KEY": "file:PATH, env:NAME or kms:KEY: the sweep signs and checks its plans",
}
"""The handler's environment variables (docs/operator.md lists the same)."""


@dataclass(frozen=True)
class EventConfig:
    """Settings as a person or the environment gives them (strings, unchecked)."""

    out_dir: str
    policy: str | None = None
    region: str | None = None
    max_risk: str = "low"
    max_changes: int = 25
    notify_sns: str | None = None
    lock_table: str | None = None
    lock_dir: Path | None = None
    dry_run: bool = False
    profile: str | None = None
    endpoint_url: str | None = None
    network_role_arn: str | None = None
    dedupe_ttl: int = DEDUPE_TTL_SECONDS
    kms_key_id: str | None = None
    run_id: str | None = None
    regions: tuple[str, ...] = ()
    role_arn: str | None = None
    organization: bool = False
    signing_key: str | None = None


def from_environ(env: Mapping[str, str]) -> EventConfig:
    """The handler's settings (``ENVIRONMENT``); a bad value is ``BadInput``."""

    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name, "").strip()
        return value or None

    def number(name: str, default: int) -> int:
        text = get(name)
        if text is None:
            return default
        if not text.isdigit():
            raise BadInput(f"{ENV_PREFIX}{name}={text!r} is not a whole number.")
        return int(text)

    tmp = Path(tempfile.gettempdir())
    return EventConfig(
        out_dir=get("OUT_DIR") or str(tmp / "remediator"),
        policy=get("POLICY"),
        region=env.get("AWS_REGION") or None,
        max_risk=get("MAX_RISK") or "low",
        max_changes=number("MAX_CHANGES", 25),
        notify_sns=get("NOTIFY_SNS"),
        lock_table=get("LOCK_TABLE"),
        lock_dir=tmp / "remediator-locks",
        dry_run=(get("DRY_RUN") or "").lower() in ("1", "true", "yes"),
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        network_role_arn=get("NETWORK_ROLE_ARN"),
        dedupe_ttl=number("DEDUPE_TTL", DEDUPE_TTL_SECONDS),
        kms_key_id=get("KMS_KEY_ID"),
        regions=tuple(r.strip() for r in (get("REGIONS") or "").split(",") if r.strip()),
        role_arn=get("ROLE_ARN"),
        organization=(get("ORGANIZATION") or "").lower() in ("1", "true", "yes"),
        signing_key=get("SIGNING_KEY"),
    )


def _policy(config: EventConfig, session: Any, region: str) -> Policy:
    if config.policy is None or not config.policy.startswith("s3://"):
        return load_policy(Path(config.policy) if config.policy else None)
    bucket, key = parse_url(config.policy)
    if not key:
        raise BadInput(f"The policy {config.policy!r} names a bucket but no object.")
    store = S3Store.open(session, f"s3://{bucket}", region, endpoint_url=config.endpoint_url)
    data = store.get(key)
    if data is None:
        raise BadInput(f"The policy {config.policy} does not exist.")
    return parse_policy(data.decode("utf-8", "replace"), config.policy)


def options(config: EventConfig, deps: running.Deps) -> EventOptions:
    """``config`` checked and resolved (reads the policy from S3 when it is there)."""
    risk_rank(config.max_risk)
    session = deps.make_session(config.profile)
    region = config.region or session.region_name
    if not region:
        raise BadInput("No region given.", hint="Pass --region, or set AWS_REGION.")
    out = artifacts.open_out_dir(
        config.out_dir,
        session,
        region,
        endpoint_url=config.endpoint_url,
        kms_key_id=config.kms_key_id,
    )
    return EventOptions(
        out=out,
        policy=_policy(config, session, region),
        region=region,
        max_risk=config.max_risk,
        max_changes=config.max_changes,
        notify_sns=config.notify_sns,
        lock_table=config.lock_table,
        lock_dir=config.lock_dir,
        dry_run=config.dry_run,
        profile=config.profile,
        endpoint_url=config.endpoint_url,
        network_role_arn=check_network_role(config.network_role_arn),
        dedupe_ttl=config.dedupe_ttl,
        run_id=config.run_id,
        role_arn=_role_template(config.role_arn),
    )


def _role_template(template: str | None) -> str | None:
    """``REMEDIATOR_ROLE_ARN`` / ``--role-arn``: a role in every member account."""
    if template is None:
        return None
    from remediator.domain.targets import check_role_template

    check_role_template(template, many=True)
    return template


def handle(
    event: str | Any, config: EventConfig, deps: running.Deps, now: Callable[[], str]
) -> EventSummary:
    """Parse ``event`` (JSON text, or the decoded value a handler receives),
    run it, return the summary. A bad setting or a malformed event is a
    summary with ``error`` (exit 1) and nothing read or changed."""
    fallback = EventOptions(
        out=artifacts.OutDir(Path(config.out_dir)), policy=default_policy(), run_id=config.run_id
    )
    raw: Any = event
    try:
        opts = options(config, deps)
        fallback = opts
        if isinstance(event, str):
            raw = _loads(event)
            batch = ev.parse(event)
        else:
            batch = ev.from_value(event)
        return run(batch, opts, deps)
    except RemediatorError as exc:
        return failed(str(exc), fallback, now(), raw)
    finally:
        if fallback.out.store is not None:  # uploaded: the staging folder goes
            shutil.rmtree(fallback.out.local, ignore_errors=True)


def failed_config(message: str, config: EventConfig, now: str) -> EventSummary:
    """The summary of a run refused for its settings or its input file."""
    opts = EventOptions(
        out=artifacts.OutDir(Path(config.out_dir)), policy=default_policy(), run_id=config.run_id
    )
    return failed(message, opts, now)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def sweep(
    config: EventConfig,
    deps: running.Deps,
    trust: Any = None,
) -> running.RunSummary:
    """The periodic sweep (``SWEEP_EVENT``): ``auto`` over ``config.regions``
    (else the handler's region) and, with ``role_arn``, the organization's
    accounts, under the same gates as an event. Its artifacts go to a prefix
    of its own under the out-dir (``sweeps/<run id>``)."""
    risk_rank(config.max_risk)
    session = deps.make_session(config.profile)
    region = config.region or session.region_name
    if not region:
        raise BadInput("No region given.", hint="Set AWS_REGION or REMEDIATOR_REGIONS.")
    if config.organization and not config.role_arn:
        raise BadInput(
            f"{ENV_PREFIX}ORGANIZATION needs {ENV_PREFIX}ROLE_ARN: members are reached by a role."
        )
    run_id = config.run_id or running.new_run_id()
    url = f"{config.out_dir.rstrip('/')}/sweeps/{run_id}"
    sink = artifacts.open_out_dir(
        url, session, region, endpoint_url=config.endpoint_url, kms_key_id=config.kms_key_id
    )
    try:
        opts = running.AutoOptions(
            out_dir=sink.local,
            sink=sink if sink.store is not None else None,
            policy=_policy(config, session, region),
            regions=config.regions or (region,),
            max_risk=config.max_risk,
            max_changes=config.max_changes,
            role_arn=config.role_arn,
            organization=config.organization,
            notify_sns=config.notify_sns,
            lock_table=config.lock_table,
            lock_dir=config.lock_dir,
            dry_run=config.dry_run,
            profile=config.profile,
            endpoint_url=config.endpoint_url,
            run_id=run_id,
            network_role_arn=check_network_role(config.network_role_arn),
            trust=trust,
        )
        return running.run(opts, deps)
    finally:
        if sink.store is not None:  # uploaded: the staging folder goes
            shutil.rmtree(sink.local, ignore_errors=True)
