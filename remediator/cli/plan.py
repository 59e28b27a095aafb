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
    NetworkRoleOpt,
    PolicyOpt,
    ProfileOpt,
    RegionOpt,
    SigningKeyOpt,
    _errors,
    _now,
    _setup_logging,
    _signer,
    _spinner,
    _use_color,
)
from remediator.domain.outcomes import EXIT_CHANGES

if TYPE_CHECKING:
    from remediator.planfile.model import Plan


def text_width() -> int:
    """The text report's width: the terminal's (``COLUMNS``, else its size)
    when stdout is one, else the fixed ``WIDTH`` (120), so files and pipes
    get the same layout everywhere."""
    import shutil
    import sys

    from remediator.render.common import WIDTH

    if not sys.stdout.isatty():
        return WIDTH
    return max(40, shutil.get_terminal_size((WIDTH, 24)).columns)


def _report(
    plan: Plan,
    fmt: Format,
    *,
    detail: str = "fit",
    previous: Plan | None = None,
    out_dir: Path | None = None,
    plan_path: Path | None = None,
) -> str:
    """The report on stdout. ASFF: the findings when they fit one
    ``BatchImportFindings`` call, else an error naming ``--out-dir``; with
    ``out_dir``, the batch files (and their paths on stderr) instead."""
    from remediator.domain.errors import BadInput
    from remediator.render import asff, report

    if fmt is Format.asff:
        if out_dir is not None:
            from remediator.run.artifacts import write_asff

            for path in write_asff(out_dir, plan, previous):
                typer.echo(f"Wrote {path}", err=True)
            return ""
        items = asff.findings(plan, previous)
        if len(items) > asff.BATCH_SIZE:
            written = f" (the plan is written to {plan_path})" if plan_path else ""
            raise BadInput(
                f"{len(items)} ASFF findings are more than one BatchImportFindings call takes "
                f"({asff.BATCH_SIZE}){written}.",
                hint=f"Write them as batch files: remediate show {plan_path or 'PLAN'} "
                "--format asff --out-dir DIR.",
            )
        return asff.render(plan, previous)
    if out_dir is not None or previous is not None:
        option = "--out-dir" if out_dir is not None else "--previous"
        raise BadInput(f"{option} is for ASFF findings.", hint="Use it with --format asff.")
    return report.render(
        plan,
        fmt.value,
        color=fmt is Format.text and _use_color(),
        width=text_width(),
        detail=detail,
        plan_file=None if plan_path is None else str(plan_path),
    )


def _emit(plan: Plan, fmt: Format, out: Path | None, default_dir: Path) -> Path:
    """Write the plan file, then its report on stdout (and where it went on stderr)."""
    from remediator import planfile

    path = out if out is not None else default_dir / f"{plan.plan_id}.json"
    text = planfile.write_plan(plan, path)
    # the JSON report is the plan file's text: encoded once
    if fmt is Format.json:
        typer.echo(text, nl=False)
    else:
        typer.echo(_report(plan, fmt, plan_path=path), nl=False)
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
    signing_key: SigningKeyOpt = None,
) -> None:
    """Read the account, diagnose every function and write a plan. Changes nothing."""
    with _errors():
        _setup_logging(log_level)
        from remediator.domain.policy import load_policy
        from remediator.run.plan import run_plan

        pol = load_policy(policy)
        # the key is checked before discovery: a bad key wastes no reads
        signer = _signer(signing_key, profile, endpoint_url, region[0] if region else None)
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
        if signer is not None:
            from remediator.planfile.signing import sign_plan

            result = sign_plan(result, signer)
        _emit(result, format, out, Path("plans"))
    if detailed_exitcode and result.changes:
        raise typer.Exit(EXIT_CHANGES)


def show(
    plan_file: Annotated[Path, typer.Argument(help="A plan file written by `remediate plan`.")],
    format: FormatOpt = Format.text,
    detail: Annotated[
        str,
        typer.Option(
            "--detail",
            help="markdown: fit (default; at most 65,536 characters, says what it left out) "
            "or full (everything).",
        ),
    ] = "fit",
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            help="asff: write DIR/asff-0001.json, … (at most 100 findings each) instead of stdout.",
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="asff: the plan before this one; its findings that are gone now are "
            "emitted closed (ARCHIVED, RESOLVED).",
        ),
    ] = None,
    iac_dir: Annotated[
        Path | None,
        typer.Option(
            "--iac-dir",
            help="markdown: add the template patches `remediate iac-patch --out-dir DIR` wrote.",
        ),
    ] = None,
) -> None:
    """Render a saved plan (checks its format version and digest)."""
    with _errors():
        from remediator import planfile

        loaded = planfile.read_plan(plan_file)
        old = planfile.read_plan(previous) if previous is not None else None
        text = _report(
            loaded, format, detail=detail, previous=old, out_dir=out_dir, plan_path=plan_file
        )
        if iac_dir is not None:
            text += _iac_section(loaded, format, iac_dir, detail)
        typer.echo(text, nl=False)


def _iac_section(plan: Plan, fmt: Format, iac_dir: Path, detail: str) -> str:
    from remediator.domain.errors import BadInput
    from remediator.run import iac_patch

    if fmt is not Format.markdown:
        raise BadInput(
            "--iac-dir is for the Markdown review.", hint="Use it with --format markdown."
        )
    index = iac_patch.read_index(iac_dir)
    if index is None:
        raise BadInput(
            f"{iac_dir} holds no {iac_patch.INDEX}.",
            hint="Write the patches first: remediate iac-patch PLAN --out-dir DIR.",
        )
    if index.get("plan_id") != plan.plan_id:
        raise BadInput(
            f"The patches in {iac_dir} are for plan {index.get('plan_id')!r}, not {plan.plan_id}.",
            hint="Run remediate iac-patch on this plan.",
        )
    section = iac_patch.review_section(iac_dir, None if detail == "full" else iac_patch.REVIEW_MAX)
    return section + "\n"
