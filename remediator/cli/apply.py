"""`remediate apply | approve | rollback | unlock`: the commands that change AWS
(or guard the changing), each a thin call into ``remediator.run.apply``,
``remediator.planfile.approval`` or ``remediator.run.lock``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from remediator.cli.app import (
    EndpointOpt,
    LogOpt,
    NetworkRoleOpt,
    PolicyOpt,
    ProfileOpt,
    RequireSignatureOpt,
    SigningKeyOpt,
    _confirm,
    _errors,
    _exec_aws,
    _lock,
    _now,
    _setup_logging,
    _signer,
    _trust,
)


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
    verify: Annotated[
        str,
        typer.Option(
            "--verify",
            help=(
                "How to verify: model (discover and diagnose again) or reachability "
                "(also VPC Reachability Analyzer from each changed function's ENIs to the "
                "internet; AWS bills each analysis; needs `iam-policy --reachability`)."
            ),
        ),
    ] = "model",
    policy: PolicyOpt = None,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
    log_level: LogOpt = "warning",
    network_role_arn: NetworkRoleOpt = None,
    signing_key: SigningKeyOpt = None,
    require_signature: RequireSignatureOpt = False,
) -> None:
    """Apply a reviewed plan: stale check, approvals, journal, rollback, verification."""
    with _errors():
        _setup_logging(log_level)
        from remediator import planfile
        from remediator.domain.policy import check_account, check_network_role, load_policy
        from remediator.run import apply as applying
        from remediator.run.verify import check_option, make_verifier

        check = check_option(verify)
        loaded = planfile.read_plan(plan_file)
        pol = load_policy(policy)
        if network_role_arn is not None:  # verification judges shared VPCs as the plan did
            pol = pol.model_copy(update={"network_role_arn": check_network_role(network_role_arn)})
        check_account(pol.allowed_account_ids, loaded.account_id)
        signer = _signer(signing_key, profile, endpoint_url, next(iter(loaded.regions), None))
        trusted = _trust(signer, require_signature, pol)
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
            policy=pol,
            trust=trusted,
        )
        outcome = applying.run_apply(
            loaded, plan_file, aws, opts, make_verifier(session, endpoint_url, pol, check=check)
        )
        typer.echo("\n".join(outcome.lines))
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


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
    signing_key: SigningKeyOpt = None,
    require_signature: RequireSignatureOpt = False,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Approve a plan: writes an approval bound to the plan's digest (signed
    with --signing-key, naming the changes it approves)."""
    with _errors():
        from remediator import planfile
        from remediator.domain.plan import RISK_ORDER, risk_rank
        from remediator.planfile import approval as approving
        from remediator.planfile.signing import check_plan
        from remediator.run.trust import effective_risks

        rank = risk_rank(max_risk)
        loaded = planfile.read_plan(plan_file)
        signer = _signer(signing_key, profile, endpoint_url, next(iter(loaded.regions), None))
        # the approver checks the plan job's signature before signing for it
        check_plan(loaded, _trust(signer, require_signature), str(plan_file))
        risks = effective_risks(None, loaded)
        ids = tuple(c.id for c in loaded.changes if RISK_ORDER[risks[c.id]] <= rank)
        path = out or plan_file.with_name(plan_file.name.removesuffix(".json") + ".approval.json")
        approving.write_approval(
            loaded,
            path,
            by=by,
            at=_now(),
            note=note,
            max_risk=max_risk,
            signer=signer,
            change_ids=ids,
        )
        signed = f", signed with {signer.key_id}" if signer is not None else ""
        typer.echo(
            f"Approved {loaded.plan_id} ({loaded.digest[:19]}…) by {by} up to risk {max_risk}{signed}: {path}"
        )


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
    signing_key: SigningKeyOpt = None,
    require_signature: RequireSignatureOpt = False,
    policy: PolicyOpt = None,
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
        from remediator.domain.policy import load_policy

        signer = _signer(signing_key, profile, endpoint_url, next(iter(loaded.regions), None))
        trusted = _trust(signer, require_signature, load_policy(policy))
        session, aws = _exec_aws(profile, endpoint_url, False)
        outcome = applying.run_rollback(
            loaded,
            journal_file,
            aws,
            _confirm(auto_approve),
            _now,
            lock=_lock(lock_table, session, endpoint_url, loaded, path),
            trusted=trusted,
        )
        typer.echo("\n".join(outcome.lines))
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def unlock(
    plan_file: Annotated[
        Path, typer.Argument(help="A plan for the account and regions to unlock.")
    ],
    lock_table: Annotated[
        str | None, typer.Option("--lock-table", help="DynamoDB lock table.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Break the lock even though its holder lives (its flock is held, its pid runs on this host, or its lease is live).",
        ),
    ] = False,
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
) -> None:
    """Break the lock of a dead apply or rollback (a live holder's only with --force)."""
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
        broken = lock.break_lock(key, force=force)
        typer.echo(f"Lock {key} broken." if broken else f"No lock held for {key}.")
