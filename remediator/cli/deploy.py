"""``remediate deploy-template``: print the operator's CloudFormation template.

Registered on the Typer app by ``remediator.cli.main``. Pure output: no AWS
call, no credentials needed. docs/operator.md ("Deploy") says how to deploy,
upgrade and remove what it prints.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from remediator.cli.app import _errors


class Scope(StrEnum):
    account = "account"
    organization = "organization"
    member = "member"


class FleetRunner(StrEnum):
    codebuild = "codebuild"
    ecs = "ecs"
    none = "none"


class TemplateFormat(StrEnum):
    yaml = "yaml"
    json = "json"


class Runtime(StrEnum):
    python312 = "python3.12"
    python313 = "python3.13"


def deploy_template(
    scope: Annotated[
        Scope,
        typer.Option(
            "--scope",
            help=(
                "account: the operator for this account; organization: a central event bus, "
                "the operator, and a StackSet with the member role and forwarding rules; "
                "member: that member stack alone (for accounts a StackSet does not reach)."
            ),
        ),
    ] = Scope.account,
    fleet_runner: Annotated[
        FleetRunner,
        typer.Option(
            "--fleet-runner",
            help=(
                "How the periodic sweep runs. codebuild: a Step Functions Distributed Map, one "
                "CodeBuild build per account-region (no 15-minute cap); ecs: the same with a "
                "Fargate task of your image; none: the Lambda function itself (15 minutes at most)."
            ),
        ),
    ] = FleetRunner.codebuild,
    sweep_schedule: Annotated[
        str,
        typer.Option(
            "--sweep-schedule",
            help="Default of the SweepSchedule parameter: an EventBridge rate() or cron() expression.",
        ),
    ] = "rate(1 hour)",
    max_risk: Annotated[
        str,
        typer.Option("--max-risk", help="Default of the MaxRisk parameter (low, medium, high)."),
    ] = "low",
    delay: Annotated[
        int,
        typer.Option(
            "--delay",
            help="Default of the DelaySeconds parameter: seconds an event waits before the operator acts (0-900).",
        ),
    ] = 120,
    runtime: Annotated[
        Runtime,
        typer.Option(
            "--runtime",
            help="Lambda runtime (and CodeBuild Python): the version the code zip is built for.",
        ),
    ] = Runtime.python312,
    fmt: Annotated[
        TemplateFormat,
        typer.Option("--format", help="yaml (default: what people review) or json."),
    ] = TemplateFormat.yaml,
) -> None:
    """Print the CloudFormation template that deploys remediator as an operator.

    The event-driven function behind an SQS queue fed by EventBridge rules,
    the periodic sweep, the artifacts bucket, the lock table and the IAM
    roles (from `iam-policy --mode auto`). See docs/operator.md.
    """
    with _errors():
        from remediator.render.deploy import DeployOptions
        from remediator.render.deploy_template import render

        opts = DeployOptions(
            scope=scope.value,
            fleet_runner=fleet_runner.value,
            runtime=runtime.value,
            sweep_schedule=sweep_schedule,
            max_risk=max_risk,
            delay=delay,
        )
        typer.echo(render(opts, fmt.value), nl=False)
