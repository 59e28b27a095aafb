"""`remediate iac-patch`: a plan's fixes of owned functions, written into
their owners' source (templates, diffs, parameter overrides; docs/iac.md).
Reads ``cloudformation:GetTemplate``; changes nothing in AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from remediator.cli.app import EndpointOpt, LogOpt, ProfileOpt, _errors, _setup_logging


def iac_patch(
    plan_file: Annotated[Path, typer.Argument(help="A plan file written by `remediate plan`.")],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir",
            help="Folder for <stack>.template.json|yaml, <stack>.diff, "
            "<stack>.parameters.json and iac-patch.json.",
        ),
    ],
    profile: ProfileOpt = None,
    endpoint_url: EndpointOpt = None,
    log_level: LogOpt = "warning",
) -> None:
    """Write the template patch of each owned function the plan fixes (reads GetTemplate)."""
    with _errors():
        _setup_logging(log_level)
        from remediator import planfile
        from remediator.aws import discover, door, session
        from remediator.run import iac_patch as patches

        plan = planfile.read_plan(plan_file)
        made = discover.make_session(profile)
        factory = session.client_factory(made, endpoint_url=endpoint_url, config="write")
        aws = door.Aws(factory, mode="check")
        index = patches.write_patches(plan, patches.template_reader(aws), out_dir)
        typer.echo("\n".join(patches.summary_lines(index)))
        typer.echo(f"\nPatches written to {out_dir} (index: {patches.INDEX}).", err=True)
