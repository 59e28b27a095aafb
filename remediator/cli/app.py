"""The command line: `remediate plan | show | demo | sandbox | schema`.

The only module that imports typer. Errors map to exit codes in one place
(``_errors``); heavy modules (boto3, moto, rich) are imported inside the
commands so ``remediate --help`` stays fast.

Exit codes: 0 success / no changes, 1 error, 2 changes present (with
``--detailed-exitcode``), 3-5 reserved for apply (stale plan, rolled back,
rollback incomplete). Usage errors exit 1, not click's usual 2, because 2
means "changes present" to pipelines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from remediator.domain.errors import RemediatorError
from remediator.domain.outcomes import EXIT_CHANGES, EXIT_ERROR

if TYPE_CHECKING:
    from remediator.domain.policy import Policy
    from remediator.planfile.model import Plan

try:  # typer >= 0.26 carries its own copy of click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as _click_exceptions  # type: ignore[no-redef]

# Exit 2 is "changes present"; a usage error must not look like that.
_click_exceptions.UsageError.exit_code = EXIT_ERROR

app = typer.Typer(
    name="remediate",
    help="Find Lambda functions whose VPC networking breaks their outbound calls, and plan safe fixes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click output: a usage error is one "Error: …" line like every
    # other error, not a box that wraps over several lines
    rich_markup_mode=None,
)


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"
    asff = "asff"


def _render(plan: Plan, fmt: Format) -> str:
    """The report for ``fmt``: ASFF findings come from ``asff``, the rest from ``report``."""
    if fmt is Format.asff:
        from remediator.render import asff

        return asff.render(plan)
    from remediator.render import report

    return report.render(plan, fmt.value, color=fmt is Format.text and _use_color())


def _use_color() -> bool:
    """Colour the text report only for a person at a terminal: stdout is a
    TTY, ``NO_COLOR`` is unset (https://no-color.org) and TERM is not dumb.
    Files, pipes and CI logs get plain text."""
    return (
        sys.stdout.isatty()
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM", "") != "dumb"
    )


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """The one place where failures become a one-line message and an exit code."""
    try:
        yield
    except RemediatorError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, _click_exceptions.ClickException):
        raise
    except Exception as exc:
        if os.environ.get("REMEDIATOR_DEBUG"):
            raise
        typer.echo(
            f"Error: internal error ({type(exc).__name__}: {exc}). Re-run with REMEDIATOR_DEBUG=1 for the traceback and report it.",
            err=True,
        )
        raise typer.Exit(EXIT_ERROR) from None


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


RegionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--region", "-r", help="Region to read (repeatable). Default: the profile's region."
    ),
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile from ~/.aws/config.")
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", help="Send AWS calls to this URL (a sandbox). AWS_ENDPOINT_URL works too."
    ),
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        "--policy", help="Policy TOML file (the desired model). Default: built-in defaults."
    ),
]
FunctionOpt = Annotated[
    list[str] | None,
    typer.Option("--function", "-f", help="Only these functions (name or glob, repeatable)."),
]
FormatOpt = Annotated[Format, typer.Option("--format", help="Report format on stdout.")]
LogOpt = Annotated[
    str,
    typer.Option(
        "--log-level", envvar="REMEDIATOR_LOG_LEVEL", help="debug, info, warning or error (stderr)."
    ),
]


def _setup_logging(level: str) -> None:
    from remediator import log

    if level not in log.LEVELS:
        from remediator.domain.errors import BadInput

        raise BadInput(f"--log-level {level!r} is not one of {', '.join(log.LEVELS)}.")
    log.configure(level)


def _check_account(policy: Policy, account_id: str) -> None:
    if policy.allowed_account_ids and account_id not in policy.allowed_account_ids:
        from remediator.domain.errors import BadInput

        raise BadInput(
            f"Account {account_id} is not in the policy's allowed_account_ids ({', '.join(policy.allowed_account_ids)}).",
            hint="Use credentials for an allowed account, or add it to the policy.",
        )


def run_plan(
    *,
    regions: list[str],
    profile: str | None,
    endpoint_url: str | None,
    policy: Policy,
    functions: list[str],
    progress: bool,
) -> Plan:
    """discover -> diagnose -> plan, shared by `plan` and `demo`."""
    from remediator import planner
    from remediator.aws import discover
    from remediator.domain.errors import BadInput

    session = discover.make_session(profile)
    if not regions:
        if not session.region_name:
            raise BadInput(
                "No region given.",
                hint="Pass --region, or set AWS_REGION or a region in your profile.",
            )
        regions = [session.region_name]
    status_cm: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    update = None
    if progress and sys.stderr.isatty():
        from rich.console import Console

        status = Console(stderr=True).status("Discovering…")
        status_cm = status

        def update(message: str) -> None:
            status.update(message)

    with status_cm:
        inventory = discover.discover(
            session,
            regions,
            endpoint_url=endpoint_url,
            function_patterns=functions,
            need_tags=policy.uses_tags,
            tags_from=policy.tags_from,
            dns_for_all_vpcs=policy.may_create_endpoints,
            progress=update,
            allowed_account_ids=policy.allowed_account_ids,
        )
    _check_account(policy, inventory.account_id)
    return planner.build_plan(inventory, policy, _now())


def _emit(plan: Plan, fmt: Format, out: Path | None, default_dir: Path) -> Path:
    from remediator import planfile

    path = out if out is not None else default_dir / f"{plan.plan_id}.json"
    text = planfile.write_plan(plan, path)
    # the JSON report is the plan file's text: encoded once
    typer.echo(text if fmt is Format.json else _render(plan, fmt), nl=False)
    if fmt is not Format.json:
        typer.echo(f"\nPlan written to {path}. Review it, then: remediate show {path}", err=True)
    return path


@app.command()
def plan(
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
    policy: PolicyOpt = None,
    function: FunctionOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Plan file to write. Default: plans/<plan-id>.json."),
    ] = None,
    format: FormatOpt = Format.text,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Exit 2 when the plan has changes (0 none, 1 error)."
        ),
    ] = False,
    log_level: LogOpt = "warning",
) -> None:
    """Read the account, diagnose every function and write a plan. Changes nothing."""
    with _errors():
        _setup_logging(log_level)
        from remediator.domain.policy import load_policy

        pol = load_policy(policy)
        result = run_plan(
            regions=region or [],
            profile=profile,
            endpoint_url=endpoint_url,
            policy=pol,
            functions=function or [],
            progress=True,
        )
        _emit(result, format, out, Path("plans"))
    if detailed_exitcode and result.changes:
        raise typer.Exit(EXIT_CHANGES)


@app.command()
def show(
    plan_file: Annotated[Path, typer.Argument(help="A plan file written by `remediate plan`.")],
    format: FormatOpt = Format.text,
) -> None:
    """Render a saved plan (checks its format version and digest)."""
    with _errors():
        from remediator import planfile

        loaded = planfile.read_plan(plan_file)
        typer.echo(_render(loaded, format), nl=False)


@app.command()
def demo(
    format: FormatOpt = Format.text,
    policy: PolicyOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Plan file to write.")] = None,
    log_level: LogOpt = "warning",
) -> None:
    """Build a sandbox account in memory (moto), then diagnose and plan it. No AWS account needed."""
    with _errors():
        _setup_logging(log_level)
        from remediator import sandbox
        from remediator.domain.policy import load_policy

        pol = load_policy(policy)
        with sandbox.mock_world():
            import boto3

            sandbox.seed(cast(Any, boto3.Session(region_name=sandbox.REGION)), sandbox.REGION)
            result = run_plan(
                regions=[sandbox.REGION],
                profile=None,
                endpoint_url=None,
                policy=pol,
                functions=[],
                progress=True,
            )
        _emit(result, format, out, Path("plans"))


@app.command(name="sandbox")
def sandbox_cmd(
    port: Annotated[
        int, typer.Option("--port", help="Port for the local moto server (0: any free port).")
    ] = 5055,
) -> None:
    """Run the demo account on a local moto server until interrupted, for plan/apply against it."""
    with _errors():
        from remediator import sandbox

        server, url = sandbox.run_server(port)
        try:
            import boto3

            env = sandbox.sandbox_env(url)
            session = boto3.Session(
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                region_name=sandbox.REGION,
            )
            sandbox.seed(cast(Any, session), sandbox.REGION, endpoint_url=url)
            typer.echo(f"Sandbox running at {url}. In another shell:\n")
            for key, value in sorted(env.items()):
                typer.echo(f"export {key}={value}")
            typer.echo("\nremediate plan\n\nPress Ctrl-C to stop.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    import time

                    time.sleep(3600)
        finally:
            server.stop()


def _exec_aws(profile: str | None, endpoint_url: str | None, dry_run: bool) -> Any:
    from remediator.aws import discover, door

    session: Any = discover.make_session(profile)

    def factory(service: str, region: str) -> Any:
        kwargs: dict[str, Any] = {"region_name": region, "config": door.executor_config()}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        return session.client(service, **kwargs)

    return session, door.Aws(factory, dry_run=dry_run)


def _verifier(session: Any, endpoint_url: str | None, policy: Policy) -> Any:
    """Re-discover the functions a run touched and re-diagnose them."""
    from remediator.aws import discover
    from remediator.diagnose import diagnose

    def verify(plan: Plan, applied: list[Any]) -> list[str]:
        fixed = {fid for c in applied for fid in c.fixes}
        names = sorted({f.function for f in plan.findings if f.id in fixed})
        if not names:
            return []
        inventory = discover.discover(
            session,
            list(plan.regions),
            endpoint_url=endpoint_url,
            function_patterns=names,
            need_tags=policy.uses_tags,
            tags_from=policy.tags_from,
            dns_for_all_vpcs=policy.may_create_endpoints,
        )
        now = diagnose(inventory, policy)
        known = {f.id for f in plan.findings}
        problems = [
            f"{f.function}:{f.qualifier} {f.code} is still there"
            for f in now.findings
            if f.id in fixed
        ]
        problems += [
            f"{f.function}:{f.qualifier} new finding {f.code}"
            for f in now.findings
            if f.id not in known and f.severity != "info"
        ]
        return problems

    return verify


def _confirm(auto_approve: bool) -> Any:
    if auto_approve or not sys.stdin.isatty():
        return None
    return lambda question: typer.confirm(question, default=False)


def _lock(
    lock_table: str | None, session: Any, endpoint_url: str | None, plan: Plan, plan_file: Path
) -> Any:
    from remediator.run.lock import DynamoLock, FileLock

    if lock_table:
        kwargs: dict[str, Any] = {"region_name": plan.regions[0]}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        return DynamoLock(session.client("dynamodb", **kwargs), lock_table)
    return FileLock(plan_file.parent / ".locks")


@app.command()
def apply(
    plan_file: Annotated[Path, typer.Argument(help="The reviewed plan file.")],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check everything against the live state; change nothing."),
    ] = False,
    auto_approve: Annotated[
        bool,
        typer.Option(
            "--auto-approve", help="Do not ask; apply what --max-risk and --approval allow."
        ),
    ] = False,
    max_risk: Annotated[
        str,
        typer.Option(
            "--max-risk",
            help="Without a person answering: apply changes up to this risk (low, medium, high).",
        ),
    ] = "low",
    approval: Annotated[
        Path | None, typer.Option("--approval", help="Approval file from `remediate approve`.")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option("--journal", help="Journal file. Default: beside the plan.")
    ] = None,
    no_rollback: Annotated[
        bool, typer.Option("--no-rollback", help="On a failure, stop and keep what was done.")
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the interrupted run recorded in this journal."),
    ] = None,
    confirm_each: Annotated[
        bool, typer.Option("--confirm-each", help="Ask for each change.")
    ] = False,
    rollback_on_verify_failure: Annotated[
        bool,
        typer.Option("--rollback-on-verify-failure", help="Roll back when verification fails."),
    ] = False,
    lock_table: Annotated[
        str | None,
        typer.Option("--lock-table", help="DynamoDB table for a shared lock (key LockID)."),
    ] = None,
    policy: PolicyOpt = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
    log_level: LogOpt = "warning",
) -> None:
    """Apply a reviewed plan: stale check, approvals, journal, rollback, verification."""
    with _errors():
        _setup_logging(log_level)
        from remediator import planfile
        from remediator.domain.policy import load_policy
        from remediator.run import apply as applying

        loaded = planfile.read_plan(plan_file)
        pol = load_policy(policy)
        _check_account(pol, loaded.account_id)
        session, aws = _exec_aws(profile, endpoint_url, dry_run)
        opts = applying.ApplyOptions(
            dry_run=dry_run,
            max_risk=max_risk,
            approval=approval,
            journal=journal,
            rollback=not no_rollback,
            resume=resume,
            confirm=_confirm(auto_approve),
            confirm_each=confirm_each,
            lock=_lock(lock_table, session, endpoint_url, loaded, plan_file),
            now=_now,
            rollback_on_verify_failure=rollback_on_verify_failure,
        )
        outcome = applying.run_apply(
            loaded, plan_file, aws, opts, _verifier(session, endpoint_url, pol)
        )
        typer.echo("\n".join(outcome.lines))
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@app.command()
def approve(
    plan_file: Annotated[Path, typer.Argument(help="The plan to approve.")],
    by: Annotated[str, typer.Option("--by", help="Who approves.")],
    note: Annotated[str, typer.Option("--note", help="Why, ticket number…")] = "",
    max_risk: Annotated[
        str, typer.Option("--max-risk", help="Highest risk this approval covers.")
    ] = "high",
    out: Annotated[
        Path | None, typer.Option("--out", help="Approval file. Default: beside the plan.")
    ] = None,
) -> None:
    """Approve a plan: writes an approval bound to the plan's digest."""
    with _errors():
        from remediator import planfile
        from remediator.domain.errors import BadInput
        from remediator.planfile import approval as approving

        if max_risk not in ("low", "medium", "high"):
            raise BadInput(f"--max-risk {max_risk!r} is not low, medium or high.")
        loaded = planfile.read_plan(plan_file)
        path = out or plan_file.with_name(plan_file.name.removesuffix(".json") + ".approval.json")
        approving.write_approval(loaded, path, by=by, at=_now(), note=note, max_risk=max_risk)
        typer.echo(
            f"Approved {loaded.plan_id} ({loaded.digest[:19]}…) by {by} up to risk {max_risk}: {path}"
        )


@app.command()
def rollback(
    journal_file: Annotated[Path, typer.Argument(help="Journal of the run to undo.")],
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="The plan of that run. Default: the one the journal names."),
    ] = None,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask.")] = False,
    lock_table: Annotated[
        str | None,
        typer.Option("--lock-table", help="DynamoDB lock table, as given to apply."),
    ] = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
    log_level: LogOpt = "warning",
) -> None:
    """Undo a finished or interrupted run from its journal, newest change first.
    Holds the same lock as apply while it runs."""
    with _errors():
        _setup_logging(log_level)
        from remediator import planfile
        from remediator.run import apply as applying

        if plan_file is None and not journal_file.name:
            from remediator.domain.errors import BadInput

            raise BadInput(
                f"{journal_file} is not a journal file.",
                hint="Pass the journal an apply run wrote.",
            )
        path = plan_file or applying.plan_of_journal(journal_file)
        loaded = planfile.read_plan(path)
        session, aws = _exec_aws(profile, endpoint_url, False)
        outcome = applying.run_rollback(
            loaded,
            journal_file,
            aws,
            _confirm(auto_approve),
            _now,
            lock=_lock(lock_table, session, endpoint_url, loaded, path),
        )
        typer.echo("\n".join(outcome.lines))
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@app.command()
def unlock(
    plan_file: Annotated[
        Path, typer.Argument(help="A plan for the account and regions to unlock.")
    ],
    lock_table: Annotated[
        str | None, typer.Option("--lock-table", help="DynamoDB lock table.")
    ] = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Break a stale lock left by a dead apply."""
    with _errors():
        from remediator import planfile
        from remediator.run.lock import lock_key

        loaded = planfile.read_plan(plan_file)
        session = None
        if lock_table:
            from remediator.aws import discover

            session = discover.make_session(profile)
        lock = _lock(lock_table, session, endpoint_url, loaded, plan_file)
        key = lock_key(loaded.account_id, loaded.regions)
        typer.echo(f"Lock {key} broken." if lock.break_lock(key) else f"No lock held for {key}.")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the plan file format."""
    with _errors():
        from remediator import planfile

        typer.echo(planfile.schema_text(), nl=False)


from remediator.cli import auto as cli_auto  # noqa: E402  (commands for unattended runs)

cli_auto.register(app)


# The cyclic garbage collector's default first threshold (700 allocations)
# makes it run ~750 times during a plan of 5,000 functions, walking the
# growing inventory again on every older-generation pass: 0.4-0.5 s of a
# 3-4 s run. Discovery, planning and rendering make mostly acyclic data, so
# collecting every 50,000 allocations costs a few MB of peak memory at most
# (measured: +0-4 MB at 5,000 functions) and most of that time.
GC_THRESHOLDS = (50_000, 20, 20)


def main() -> None:
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    app()
