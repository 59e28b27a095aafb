"""The operator's CloudFormation template, put together (pure).

``template(opts)`` is what ``remediate deploy-template`` prints: the parts of
``render.deploy_parts`` for every scope, the fleet sweep of
``render.deploy_fleet`` (CodeBuild) or ``render.deploy_ecs`` (Fargate), or the Lambda sweep, and with ``--scope
organization`` the central bus and the member StackSet of
``render.deploy_org``. ``--scope member`` is the member stack alone.
"""

from __future__ import annotations

from typing import Any

from remediator.render import deploy_ecs, deploy_fleet, deploy_org, deploy_parts
from remediator.render.deploy import DeployOptions, dump


def template(opts: DeployOptions) -> dict[str, Any]:
    """The whole template for ``opts`` (checked first)."""
    opts.check()
    if opts.scope == "member":
        return deploy_org.member()
    resources: dict[str, Any] = {}
    resources.update(deploy_parts.storage())
    resources.update(deploy_parts.queues(opts))
    resources.update(deploy_parts.rules(opts))
    resources.update(deploy_parts.operator(opts))
    if opts.fleet_runner == "none":
        resources.update(deploy_parts.lambda_sweep(opts))
    elif opts.fleet_runner == "ecs":
        resources.update(deploy_ecs.resources(opts))
    else:
        resources.update(deploy_fleet.resources(opts))
    if opts.scope == "organization":
        resources.update(deploy_org.central_bus())
        resources.update(deploy_org.member_stack_set(opts.fleet_runner))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"remediator operator ({opts.scope} scope, fleet runner {opts.fleet_runner}): "
            "fixes Lambda functions whose VPC networking breaks their outbound calls, "
            "minutes after the change that broke them."
        ),
        "Parameters": {
            **deploy_parts.parameters(opts),
            **(deploy_ecs.parameters() if opts.fleet_runner == "ecs" else {}),
        },
        "Conditions": deploy_parts.conditions(opts),
        "Resources": resources,
        "Outputs": deploy_parts.outputs(opts),
    }


def render(opts: DeployOptions, fmt: str = "yaml") -> str:
    """``template(opts)`` as YAML or JSON text."""
    return dump(template(opts), fmt)
