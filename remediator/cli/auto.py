"""Commands for unattended runs (`remediate auto`, `remediate iam-policy`).

Registered on the Typer app by ``remediator.cli.main``; heavy modules are
imported inside the commands.

`remediate auto` exit codes (docs/auto.md): 0 nothing to do, 6 fixed
everything, 2 changes left for review, 3 stale, 4 a change failed and was
rolled back, 5 rollback incomplete, 1 error. With several account-regions
the worst wins (5, 4, 1, 3, 2, 6, 0). The last line of stdout is always the
run summary as one line of JSON.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from remediator.cli.app import (
    NetworkRoleOpt,
    RequireSignatureOpt,
    SigningKeyOpt,
    _errors,
    _now,
    _setup_logging,
    _signer,
    _trust,
)

if TYPE_CHECKING:
    from remediator.run.auto import RunSummary


class PolicyMode(StrEnum):
    plan = "plan"
    apply = "apply"
    auto = "auto"
    network_owner = "network-owner"


def default_lock_dir() -> Path:
    """``$XDG_STATE_HOME/remediator/locks`` (``~/.local/state/...``): shared by
    every run on the machine, whatever its --out-dir."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(base) / "remediator" / "locks"


def _progress() -> tuple[AbstractContextManager[Any], Any]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return nullcontext(), None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(f"{phase} account-regions", total=total)
        bar.update(tasks[phase], completed=done)

    return bar, update


def _print_summary(summary: RunSummary) -> None:
    from remediator.run.auto import OUTCOME_TEXT

    for t in summary.targets:
        line = (
            f"{t.account_id}  {t.region:<15} {t.outcome:<20} "
            f"applied {len(t.applied)}, left {t.left}, blocked {t.blocked}"
        )
        if t.review:
            line += f"  review: {summary.out_dir / t.review}"
        if t.error:
            line += f"  error: {t.error}"
        elif t.note:
            line += f"  ({t.note})"
        typer.echo(line)
    data = summary.to_json()
    counts = ", ".join(f"{n} {o}" for o, n in data["counts"].items() if n)
    typer.echo(
        f"Run {summary.run_id}: {len(summary.targets)} account-region(s)"
        + (f" ({counts})" if counts else "")
        + f". Exit {summary.exit_code}: {OUTCOME_TEXT[summary.outcome]}."
    )
    if summary.notification and summary.notification.get("error"):
        typer.echo(f"Error: summary not published: {summary.notification['error']}", err=True)
    typer.echo(json.dumps(data, sort_keys=True, separators=(",", ":")))


# `remediate auto`'s options. --policy, --function, --profile, --endpoint-url and
# --log-level say what they mean for a fleet run, so they are not app.py's.
_Region = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        "-r",
        help="Region (repeatable), or 'all' for every region enabled in the runner's account. Default: the profile's region.",
    ),
]
_OutDir = Annotated[
    str | None,
    typer.Option(
        "--out-dir",
        help="Folder (or s3://bucket/prefix) for this run's artifacts: <account>/<region>/plan.json, plan.md, plan.asff.json, plan.journal.jsonl, review.json; summary.json. One folder per run. Default: runs/<UTC time>.",
    ),
]
_MaxRisk = Annotated[
    str,
    typer.Option(
        "--max-risk", help="Apply changes up to this risk unattended (low, medium, high)."
    ),
]
_MaxChanges = Annotated[
    int,
    typer.Option(
        "--max-changes",
        min=0,
        help="Never apply more changes than this in one run (all account-regions together); a plan that does not fit is left for review.",
    ),
]
_Concurrency = Annotated[
    int,
    typer.Option(
        "--concurrency", min=1, max=64, help="Account-regions worked on at the same time."
    ),
]
_RoleArn = Annotated[
    str | None,
    typer.Option(
        "--role-arn",
        help="Role to assume in each account, e.g. 'arn:aws:iam::{account_id}:role/remediator'.",
    ),
]
_ExternalId = Annotated[
    str | None, typer.Option("--external-id", help="ExternalId for sts:AssumeRole.")
]
_AccountsFile = Annotated[
    Path | None,
    typer.Option("--accounts-file", help="Account ids, one per line (# comments)."),
]
_Organization = Annotated[
    bool,
    typer.Option("--organization", help="Every ACTIVE account of the AWS Organization."),
]
_Shard = Annotated[
    str | None,
    typer.Option(
        "--shard", help="I/N: take only shard I of N of the account-region pairs (CI matrix)."
    ),
]
_Policy = Annotated[
    Path | None, typer.Option("--policy", help="Policy TOML file. Default: built-in.")
]
_Function = Annotated[
    list[str] | None,
    typer.Option("--function", "-f", help="Only these functions (name or glob, repeatable)."),
]
_NotifySns = Annotated[
    str | None,
    typer.Option("--notify-sns", help="Publish the run summary (JSON) to this SNS topic ARN."),
]
_LockTable = Annotated[
    str | None,
    typer.Option(
        "--lock-table", help="DynamoDB table (key LockID) for a lock shared by every runner."
    ),
]
_LockDir = Annotated[
    Path | None,
    typer.Option(
        "--lock-dir",
        help="Folder for local locks. Default: $XDG_STATE_HOME/remediator/locks.",
    ),
]
_Verify = Annotated[
    str,
    typer.Option(
        "--verify",
        help=(
            "How to verify each target: model (discover and diagnose again) or reachability "
            "(also VPC Reachability Analyzer from each changed function's ENIs to the "
            "internet; AWS bills each analysis; needs `iam-policy --reachability`)."
        ),
    ),
]
_DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Plan and check what would be applied against the live state."),
]
_Profile = Annotated[str | None, typer.Option("--profile", help="AWS profile of the runner.")]
_Endpoint = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="Send AWS calls to this URL (a sandbox)."),
]
_LogLevel = Annotated[
    str,
    typer.Option(
        "--log-level", envvar="REMEDIATOR_LOG_LEVEL", help="debug, info, warning or error."
    ),
]


def _accounts(accounts_file: Path | None) -> tuple[str, ...]:
    """The account ids of ``--accounts-file`` (none without it)."""
    from remediator.domain.errors import BadInput
    from remediator.run import auto as running

    if accounts_file is None:
        return ()
    try:
        text = accounts_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"Cannot read --accounts-file {accounts_file}: {exc.strerror}.") from None
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"--accounts-file {accounts_file} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}).",
            hint="Write the account ids as plain text, one a line.",
        ) from None
    accounts = tuple(running.parse_accounts(text, str(accounts_file)))
    if not accounts:
        raise BadInput(f"--accounts-file {accounts_file} lists no account.")
    return accounts


def _sink(
    out_dir: str, profile: str | None, region: list[str] | None, endpoint_url: str | None
) -> Any:
    """``--out-dir s3://…``: a staging folder and the S3 store (``run.artifacts.OutDir``);
    a run's prefix must not hold an earlier run's summary. None for a folder."""
    if not out_dir.startswith("s3://"):
        return None
    from remediator.aws.session import make_session
    from remediator.domain.errors import BadInput
    from remediator.run import artifacts
    from remediator.run.auto import SUMMARY_FILE

    session = make_session(profile)
    home = next((r for r in region or () if r != "all"), None) or session.region_name
    sink = artifacts.open_out_dir(out_dir, session, home or "us-east-1", endpoint_url=endpoint_url)
    if sink.read_text(SUMMARY_FILE) is not None:
        raise BadInput(
            f"{out_dir} holds the artifacts of an earlier run ({SUMMARY_FILE}).",
            hint="Give each run its own --out-dir prefix.",
        )
    return sink


def auto(
    region: _Region = None,
    out_dir: _OutDir = None,
    max_risk: _MaxRisk = "low",
    max_changes: _MaxChanges = 25,
    concurrency: _Concurrency = 4,
    role_arn: _RoleArn = None,
    external_id: _ExternalId = None,
    accounts_file: _AccountsFile = None,
    organization: _Organization = False,
    shard: _Shard = None,
    policy: _Policy = None,
    function: _Function = None,
    notify_sns: _NotifySns = None,
    lock_table: _LockTable = None,
    lock_dir: _LockDir = None,
    verify: _Verify = "model",
    dry_run: _DryRun = False,
    profile: _Profile = None,
    endpoint_url: _Endpoint = None,
    log_level: _LogLevel = "info",
    network_role_arn: NetworkRoleOpt = None,
    signing_key: SigningKeyOpt = None,
    require_signature: RequireSignatureOpt = False,
) -> None:
    """Discover, plan, apply what --max-risk allows unattended, verify; leave the rest for review.

    Exit: 0 nothing to do, 6 fixed everything, 2 changes left for review,
    3 stale, 4 rolled back, 5 rollback incomplete, 1 error (worst target wins).
    The last line of stdout is the run summary as JSON.
    """
    from remediator.run import auto as running

    run_id, started = running.new_run_id(), _now()
    if out_dir is None:
        out_dir = str(Path("runs") / started.replace("-", "").replace(":", ""))
    failure: list[str] = []
    try:
        with _errors():
            try:
                _setup_logging(log_level)
                summary = _auto(
                    run_id,
                    out_dir,
                    dict(
                        region=region,
                        max_risk=max_risk,
                        max_changes=max_changes,
                        concurrency=concurrency,
                        role_arn=role_arn,
                        external_id=external_id,
                        accounts_file=accounts_file,
                        organization=organization,
                        shard=shard,
                        policy=policy,
                        function=function,
                        notify_sns=notify_sns,
                        lock_table=lock_table,
                        lock_dir=lock_dir,
                        verify=verify,
                        dry_run=dry_run,
                        profile=profile,
                        endpoint_url=endpoint_url,
                        network_role_arn=network_role_arn,
                        signing_key=signing_key,
                        require_signature=require_signature,
                    ),
                )
            except Exception as exc:
                failure.append(_failure_text(exc))
                raise
            except KeyboardInterrupt:
                failure.append("interrupted")
                raise
            if summary.error:
                typer.echo(f"Error: {summary.error}", err=True)
            _print_summary(summary)
    except (typer.Exit, typer.Abort, SystemExit):
        if failure:  # _errors said why on stderr; scripts still read the summary line
            failed = running.RunSummary(
                run_id=run_id,
                started_at=started,
                out_dir=Path(out_dir),
                out_url=out_dir if out_dir.startswith("s3://") else None,
                max_risk=max_risk,
                max_changes=max_changes,
                dry_run=dry_run,
                finished_at=_now(),
                error=failure[0],
            )
            typer.echo(json.dumps(failed.to_json(), sort_keys=True, separators=(",", ":")))
        raise
    raise typer.Exit(summary.exit_code)


def _failure_text(exc: BaseException) -> str:
    """What a failed run's summary says: remediator's one line, else the
    internal error's type and text (as ``_errors`` prints it)."""
    from remediator.domain.errors import RemediatorError

    if isinstance(exc, RemediatorError):
        return " ".join(str(exc).split())
    if isinstance(exc, (typer.Exit, typer.Abort)):
        return "stopped"
    if isinstance(exc, RecursionError):
        return "an input file is nested too deeply to read."
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f" ({exc.filename})." if exc.filename else ".")
    return " ".join(f"internal error ({type(exc).__name__}: {exc})".split())


def _auto(run_id: str, out_dir: str, o: dict[str, Any]) -> RunSummary:
    """Check the options, then run; a bad option raises (``auto`` then prints
    the failed run's summary)."""
    from remediator.domain.plan import risk_rank
    from remediator.domain.policy import check_network_role, load_policy
    from remediator.run import auto as running
    from remediator.run.verify import check_option, make_verifier

    sink = _sink(out_dir, o["profile"], o["region"], o["endpoint_url"])
    local = sink.local if sink is not None else Path(out_dir)
    risk_rank(o["max_risk"])
    check = check_option(o["verify"])
    accounts = _accounts(o["accounts_file"])
    if o["notify_sns"]:
        from remediator.aws.notify import topic_region

        topic_region(o["notify_sns"])
    pol = load_policy(o["policy"])
    regions = o["region"] or ()
    kms_region = None if not regions or regions[0] == "all" else regions[0]
    signer = _signer(o["signing_key"], o["profile"], o["endpoint_url"], kms_region)
    trusted = _trust(signer, o["require_signature"], pol)
    opts = running.AutoOptions(
        out_dir=local,
        sink=sink,
        policy=pol,
        regions=tuple(o["region"] or ()),
        max_risk=o["max_risk"],
        max_changes=o["max_changes"],
        concurrency=o["concurrency"],
        role_arn=o["role_arn"],
        external_id=o["external_id"],
        accounts=accounts,
        organization=o["organization"],
        shard=running.parse_shard(o["shard"]) if o["shard"] else None,
        functions=tuple(o["function"] or ()),
        notify_sns=o["notify_sns"],
        lock_table=o["lock_table"],
        lock_dir=o["lock_dir"] or default_lock_dir(),
        dry_run=o["dry_run"],
        profile=o["profile"],
        endpoint_url=o["endpoint_url"],
        run_id=run_id,
        network_role_arn=check_network_role(o["network_role_arn"]),
        trust=trusted,
    )
    from remediator.planfile import make_folder

    make_folder(local)  # a file, or a folder that cannot be made: one line
    bar, update = _progress()
    try:
        with bar:
            return running.run(
                opts,
                running.Deps(
                    verifier=partial(make_verifier, check=check), now=_now, progress=update
                ),
            )
    finally:
        if sink is not None:  # uploaded: the staging folder goes
            import shutil

            shutil.rmtree(sink.local, ignore_errors=True)


def iam_policy(
    mode: Annotated[
        PolicyMode,
        typer.Option(
            "--mode",
            help=(
                "plan: read-only; apply: plan + every change kind; auto: the runner of "
                "`remediate auto`; network-owner: the role --network-role-arn names in a shared "
                "VPC's owner account (read-only)."
            ),
        ),
    ] = PolicyMode.plan,
    role_arn: Annotated[
        str | None,
        typer.Option(
            "--role-arn",
            help="auto: the member role template the runner assumes ({account_id} allowed).",
        ),
    ] = None,
    organization: Annotated[
        bool, typer.Option("--organization", help="auto: accounts come from AWS Organizations.")
    ] = False,
    notify_sns: Annotated[
        str | None, typer.Option("--notify-sns", help="auto: the SNS topic the summary goes to.")
    ] = None,
    lock_table: Annotated[
        str | None, typer.Option("--lock-table", help="The DynamoDB lock table, if used.")
    ] = None,
    reachability: Annotated[
        bool,
        typer.Option(
            "--reachability",
            help="apply/auto: add what `--verify reachability` needs (Reachability Analyzer).",
        ),
    ] = False,
    network_role_arn: Annotated[
        str | None,
        typer.Option(
            "--network-role-arn",
            help="plan/apply/auto: add sts:AssumeRole on the shared VPC owners' role template ({account}).",
        ),
    ] = None,
    partition: Annotated[
        str,
        typer.Option("--partition", help="The AWS partition of the ARNs (aws-cn, aws-us-gov...)."),
    ] = "aws",
    signing_key: Annotated[
        str | None,
        typer.Option(
            "--signing-key",
            help="The KMS key (kms:ARN) plans and approvals are signed with: plan signs, apply "
            "verifies, auto does both.",
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="--mode auto: the s3://bucket/prefix the runs' --out-dir names (auto, event).",
        ),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="Scope the writes (and the lock table) to this Region (repeat for several; "
            "default: any).",
        ),
    ] = None,
    account_id: Annotated[
        str | None,
        typer.Option(
            "--account-id",
            help="Scope the writes (and the lock table) to this account (default: any).",
        ),
    ] = None,
) -> None:
    """Print the least-privilege IAM policy (JSON) for a mode, derived from the code.

    Pass the same --role-arn, --organization, --notify-sns and --lock-table
    as the run it is for. With --role-arn, `--mode auto` is the runner's
    policy; each member role needs `--mode apply`.
    """
    with _errors():
        from remediator.render import iam

        typer.echo(
            iam.render(
                iam.PolicyOptions(
                    mode=mode.value,
                    role_arn=role_arn,
                    organization=organization,
                    notify_sns=notify_sns,
                    lock_table=lock_table,
                    reachability=reachability,
                    network_role_arn=network_role_arn,
                    partition=partition,
                    signing_key=signing_key,
                    artifacts=artifacts,
                    regions=tuple(dict.fromkeys(region or ())),
                    account_id=account_id,
                )
            ),
            nl=False,
        )
