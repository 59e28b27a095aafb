"""`remediate demo`, `remediate sandbox` and `remediate schema`: trying remediator
without an AWS account, and the plan file's JSON Schema.

moto comes in through ``remediator.sandbox`` (its only importer), inside
the commands.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from remediator.cli.app import (
    Format,
    FormatOpt,
    LogOpt,
    PolicyOpt,
    _errors,
    _now,
    _setup_logging,
    _spinner,
)
from remediator.cli.plan import _emit


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
        from remediator.run.plan import run_plan

        pol = load_policy(policy)
        with sandbox.mock_world():
            from remediator.aws import discover

            # inside mock_world the default chain finds the sandbox's credentials and region
            sandbox.seed(cast(Any, discover.make_session(None)), sandbox.REGION)
            with _spinner("Discovering…") as progress:
                result = run_plan(
                    regions=[sandbox.REGION],
                    profile=None,
                    endpoint_url=None,
                    policy=pol,
                    functions=[],
                    now=_now,
                    progress=progress,
                )
        _emit(result, format, out, Path("plans"))


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
            from remediator.aws import discover

            env = sandbox.sandbox_env(url)
            session: Any = discover.make_session(None)
            # the sandbox's own credentials, whatever the shell's AWS variables say
            clients = {
                service: session.client(
                    service,
                    region_name=sandbox.REGION,
                    endpoint_url=url,
                    aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                )
                for service in ("ec2", "lambda", "iam")
            }
            sandbox.seed(clients, sandbox.REGION)
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


def schema() -> None:
    """Print the JSON Schema of the plan file format."""
    with _errors():
        from remediator import planfile

        typer.echo(planfile.schema_text(), nl=False)
