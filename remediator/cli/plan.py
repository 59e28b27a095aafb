"""`remediate plan` and `remediate show`: the read-only commands.

``plan`` calls ``remediator.run.plan`` and writes the plan file; ``show``
renders a saved one. Both change nothing in AWS.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from remediator.cli.app import (
    EndpointOpt,
    Format,
    FormatOpt,
    FunctionOpt,
    LogOpt,
    PolicyOpt,
    ProfileOpt,
    RegionOpt,
    _errors,
    _now,
    _render,
    _setup_logging,
    _spinner,
)
from remediator.domain.outcomes import EXIT_CHANGES

if TYPE_CHECKING:
    from remediator.planfile.model import Plan


NetworkRoleOpt = Annotated[
    str | None,
    typer.Option(
        "--network-role-arn",
        help=(
            "Role in each shared VPC's owner account, e.g. "
            "'arn:aws:iam::{account}:role/remediator-network-read': reads what AWS RAM hides "
            "from this account (NAT gateways…). Default: the policy's network_role_arn."
        ),
    ),
]


def _emit(plan: Plan, fmt: Format, out: Path | None, default_dir: Path) -> Path:
    """Write the plan file, then its report on stdout (and where it went on stderr)."""
    from remediator import planfile

    path = out if out is not None else default_dir / f"{plan.plan_id}.json"
    text = planfile.write_plan(plan, path)
    # the JSON report is the plan file's text: encoded once
    typer.echo(text if fmt is Format.json else _render(plan, fmt), nl=False)
    if fmt is not Format.json:
        typer.echo(f"\nPlan written to {path}. Review it, then: remediate show {path}", err=True)
    return path


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
    network_role_arn: NetworkRoleOpt = None,
) -> None:
    """Read the account, diagnose every function and write a plan. Changes nothing."""
    with _errors():
        _setup_logging(log_level)
        from remediator.domain.policy import load_policy
        from remediator.run.plan import run_plan

        pol = load_policy(policy)
        with _spinner("Discovering…") as progress:
            result = run_plan(
                regions=region or [],
                profile=profile,
                endpoint_url=endpoint_url,
                policy=pol,
                functions=function or [],
                now=_now,
                progress=progress,
                network_role_arn=network_role_arn,
            )
        _emit(result, format, out, Path("plans"))
    if detailed_exitcode and result.changes:
        raise typer.Exit(EXIT_CHANGES)


def show(
    plan_file: Annotated[Path, typer.Argument(help="A plan file written by `remediate plan`.")],
    format: FormatOpt = Format.text,
) -> None:
    """Render a saved plan (checks its format version and digest)."""
    with _errors():
        from remediator import planfile

        loaded = planfile.read_plan(plan_file)
        typer.echo(_render(loaded, format), nl=False)
