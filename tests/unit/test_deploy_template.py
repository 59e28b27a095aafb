"""`remediate deploy-template`: the template lints clean, its policies are
least privilege, its rules match the events the operator exists for, and
its pieces fit together (queue policy and rules, handler and package,
build script and `remediate auto`)."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from remediator.domain.errors import BadInput
from remediator.render import deploy, deploy_ecs, deploy_fleet, iam
from remediator.render.cfn_yaml import to_yaml
from remediator.render.deploy import DeployOptions
from remediator.render.deploy_template import render, template
from tests.cfn_eval import ACCOUNT, Evaluator

VARIANTS = [
    (scope, runner)
    for scope in deploy.SCOPES
    for runner in deploy.RUNNERS
    if not (scope == "member" and runner != deploy.RUNNERS[0])  # the member stack has no runner
]

# cfn-lint findings accepted, each with its reason (rule id -> why). None today:
# every warning and informational finding cfn-lint raised was fixed instead
# (explicit DeletionPolicy/UpdateReplacePolicy on queues and log groups,
# MessageRetentionPeriod on the event queue, numeric log retention values).
ACCEPTED_LINT: dict[str, str] = {}

GIVEN = {
    "CodeBucket": "remediator-code",
    "CodeKey": "remediator-0.1.0.zip",
    "PolicyUrl": "s3://remediator-policies/prod/policy.toml",
    "NotificationTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:remediator",
    "SigningKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "OrganizationId": "o-abcdefghij",
    "MemberOrganizationalUnitIds": "ou-abcd-12345678",
    "MemberRegions": "us-east-1,eu-west-1",
    "CentralBusArn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/remediator-events",
    "OperatorRoleArns": f"arn:aws:iam::{ACCOUNT}:role/remediator-operator",
    "RoleRegion": "us-east-1",
}
_REQUIRED = (
    "CodeBucket",
    "CodeKey",
    "OrganizationId",
    "MemberOrganizationalUnitIds",
    "MemberRegions",
)
_MEMBER_REQUIRED = ("CentralBusArn", "OperatorRoleArns", "RoleRegion")
MINIMAL = {k: GIVEN[k] for k in (*_REQUIRED, *_MEMBER_REQUIRED)}
"""Only what has no default: every optional parameter left empty."""


def _template(scope: str, runner: str) -> dict[str, Any]:
    return template(DeployOptions(scope=scope, fleet_runner=runner))


# --------------------------------------------------------------------------
# cfn-lint: every variant, both formats


@pytest.fixture(scope="module")
def lint_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """cfn-lint once over every variant in both formats (one process: the
    schema load dominates), with the informational checks too."""
    if shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("cfn-lint is not installed: pip install -e '.[test]'")
    folder = tmp_path_factory.mktemp("templates")
    files = []
    for scope, runner in VARIANTS:
        for fmt in deploy.FORMATS:
            path = folder / f"{scope}-{runner}.{fmt}"
            path.write_text(render(DeployOptions(scope=scope, fleet_runner=runner), fmt))
            files.append(path)
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--format",
            "json",
            "--include-checks",
            "I",
            "--regions",
            "us-east-1",
            "eu-west-1",
            "--",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found: dict[str, list[dict[str, Any]]] = {path.name: [] for path in files}
    for match in json.loads(proc.stdout or "[]"):
        found[Path(match["Filename"]).name].append(match)
    assert proc.returncode in (0, 2, 4, 6, 8, 10, 12, 14), proc.stderr
    return found


@pytest.mark.parametrize("fmt", deploy.FORMATS)
@pytest.mark.parametrize(("scope", "runner"), VARIANTS)
def test_cfn_lint_finds_nothing(
    lint_results: dict[str, list[dict[str, Any]]], scope: str, runner: str, fmt: str
) -> None:
    matches = lint_results[f"{scope}-{runner}.{fmt}"]
    unexpected = [
        f"{m['Rule']['Id']} line {m['Location']['Start']['LineNumber']}: {m['Message']}"
        for m in matches
        if m["Rule"]["Id"] not in ACCEPTED_LINT
    ]
    assert unexpected == []


def _lint(document: dict[str, Any], tmp_path: Path) -> list[str]:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return [m["Rule"]["Id"] for m in json.loads(proc.stdout or "[]")]


def _machine_only(definition: dict[str, Any], substitutions: dict[str, str]) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/x",
                    "Definition": definition,
                    "DefinitionSubstitutions": {"Bucket": "b", "TargetsKey": "k", **substitutions},
                },
            }
        },
    }


DEFINITIONS = {"codebuild": deploy_fleet.definition, "ecs": deploy_ecs.ecs_definition}
SUBSTITUTIONS = {
    "codebuild": {"Project": "p"},
    "ecs": {"Cluster": "c", "TaskDefinition": "t", "AssignPublicIp": "DISABLED"},
}


@pytest.mark.parametrize("runner", sorted(DEFINITIONS))
def test_state_machine_definition_validates_on_its_own(tmp_path: Path, runner: str) -> None:
    """cfn-lint's E3601 checks the definition against the States Language
    schema; the broken copy shows the check bites."""
    definition = DEFINITIONS[runner]()
    assert _lint(_machine_only(definition, SUBSTITUTIONS[runner]), tmp_path) == []
    definition["States"]["SweepTargets"]["ItemProcessor"]["States"]["SweepOne"]["Recource"] = "x"
    assert "E3601" in _lint(_machine_only(definition, SUBSTITUTIONS[runner]), tmp_path)


@pytest.mark.parametrize(
    ("runner", "resource"),
    [
        ("codebuild", "arn:aws:states:::codebuild:startBuild.sync"),
        ("ecs", "arn:aws:states:::ecs:runTask.sync"),
    ],
)
def test_state_machine_is_a_distributed_map_of_sweeps(runner: str, resource: str) -> None:
    tpl = _template("account", runner)
    definition = tpl["Resources"]["FleetStateMachine"]["Properties"]["Definition"]
    assert definition == DEFINITIONS[runner]()
    sweep = definition["States"][definition["StartAt"]]
    assert sweep["Type"] == "Map"
    assert sweep["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert sweep["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert sweep["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert "ItemBatcher" not in sweep  # one item, one account-region, one run
    task = sweep["ItemProcessor"]["States"][sweep["ItemProcessor"]["StartAt"]]
    assert task["Resource"] == resource
    assert {"MaxConcurrencyPath", "ToleratedFailurePercentagePath", "ResultWriter"} <= set(sweep)
    # every ${name} of the definition is substituted
    names = set(re.findall(r"\$\{(\w+)\}", json.dumps(definition)))
    assert names == set(
        tpl["Resources"]["FleetStateMachine"]["Properties"]["DefinitionSubstitutions"]
    )
    # the schedule feeds both paths (and the task's network) from the stack's parameters
    target = tpl["Resources"]["SweepScheduleRule"]["Properties"]["Targets"][0]
    params = {
        "MaxConcurrency": 7,
        "SweepSubnets": "subnet-1,subnet-2",
        "SweepSecurityGroups": "sg-1",
    }
    given = json.loads(Evaluator(tpl, {**MINIMAL, **params}).eval(target["Input"]))
    expected: dict[str, Any] = {"max_concurrency": 7, "tolerated_failure_percentage": 10}
    if runner == "ecs":
        expected |= {"subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"]}
    assert given == expected


def test_ecs_item_fails_unless_the_container_exited_zero() -> None:
    states = deploy_ecs.ecs_definition()["States"]["SweepTargets"]["ItemProcessor"]["States"]
    assert states["SweepOne"]["Next"] == "Exited"
    (choice,) = states["Exited"]["Choices"]
    assert choice == {"Variable": "$.exit_code", "NumericEquals": 0, "Next": "Swept"}
    assert states[states["Exited"]["Default"]]["Type"] == "Fail"


# --------------------------------------------------------------------------
# The event rules


def _rule(tpl: dict[str, Any], name: str) -> dict[str, Any]:
    return tpl["Resources"][name]["Properties"]


def test_rules_match_lambda_names_by_prefix_and_ec2_names_exactly() -> None:
    tpl = _template("account", "none")
    lam = _rule(tpl, "LambdaChangesRule")["EventPattern"]
    ec2 = _rule(tpl, "NetworkChangesRule")["EventPattern"]
    assert lam["source"] == ["aws.lambda"] and ec2["source"] == ["aws.ec2"]
    assert lam["detail-type"] == ec2["detail-type"] == ["AWS API Call via CloudTrail"]
    assert lam["detail"]["eventSource"] == ["lambda.amazonaws.com"]
    assert lam["detail"]["eventName"] == [
        {"prefix": n}
        for n in (
            "CreateFunction",
            "UpdateFunctionConfiguration",
            "PublishVersion",
            "CreateAlias",
            "UpdateAlias",
        )
    ]
    assert ec2["detail"]["eventSource"] == ["ec2.amazonaws.com"]
    assert set(ec2["detail"]["eventName"]) == {
        "CreateRoute", "ReplaceRoute", "DeleteRoute", "AssociateRouteTable",
        "ReplaceRouteTableAssociation", "DisassociateRouteTable", "DeleteNatGateway",
        "DetachInternetGateway", "CreateVpcEndpoint", "ModifyVpcEndpoint",
        "DeleteVpcEndpoints", "ModifyVpcAttribute", "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupEgress", "CreateNetworkAclEntry", "ReplaceNetworkAclEntry",
        "DeleteNetworkAclEntry", "ReplaceNetworkAclAssociation",
    }  # fmt: skip


@pytest.mark.parametrize(("scope", "runner"), [v for v in VARIANTS if v[0] != "member"])
def test_queue_policy_admits_exactly_the_rules_that_target_the_queues(
    scope: str, runner: str
) -> None:
    tpl = _template(scope, runner)
    ev = Evaluator(tpl, GIVEN)
    targeting = set()
    for name, rule in ev.of_type("AWS::Events::Rule").items():
        for target in rule["Properties"]["Targets"]:
            queues = {target["Arn"], target.get("DeadLetterConfig", {}).get("Arn")}
            if queues & {ev.getatt("EventQueue", "Arn"), ev.getatt("DeadLetterQueue", "Arn")}:
                targeting.add(ev.getatt(name, "Arn"))
    policy = ev.resource("EventQueuePolicy")["Properties"]["PolicyDocument"]
    for stmt in policy["Statement"]:
        assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
        assert set(stmt["Condition"]["ArnEquals"]["aws:SourceArn"]) == targeting
    assert len(targeting) == (3 if runner == "none" else 2)


@pytest.mark.parametrize("runner", deploy.RUNNERS)
def test_organization_rules_listen_on_the_central_bus(runner: str) -> None:
    tpl = _template("organization", runner)
    for name in ("LambdaChangesRule", "NetworkChangesRule"):
        assert _rule(tpl, name)["EventBusName"] == {"Ref": "CentralBus"}
    ev = Evaluator(tpl, GIVEN)
    bus_policy = ev.resource("CentralBusPolicy")["Properties"]["Statement"]
    assert bus_policy["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    member = json.loads(tpl["Resources"]["MemberStackSet"]["Properties"]["TemplateBody"])
    assert member == template(DeployOptions(scope="member"))
    forwarded = [
        _rule(member, n)["EventPattern"] for n in ("ForwardLambdaChanges", "ForwardNetworkChanges")
    ]
    assert forwarded == deploy.event_patterns()


def test_queue_delays_events_and_dead_letters_after_retries() -> None:
    tpl = _template("account", "codebuild")
    ev = Evaluator(tpl, {**MINIMAL, "DelaySeconds": 300})
    queue = ev.resource("EventQueue")["Properties"]
    assert queue["DelaySeconds"] == 300
    assert queue["VisibilityTimeout"] >= 6 * deploy.EVENT_FUNCTION_TIMEOUT
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": ev.getatt("DeadLetterQueue", "Arn"),
        "maxReceiveCount": deploy.MAX_RECEIVES,
    }
    mapping = ev.resource("OperatorEventSource")["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["EventSourceArn"] == ev.getatt("EventQueue", "Arn")


@pytest.mark.parametrize(("scope", "runner"), [v for v in VARIANTS if v[0] != "member"])
def test_what_outlives_the_stack_is_retained(scope: str, runner: str) -> None:
    resources = _template(scope, runner)["Resources"]
    kept = {n for n, r in resources.items() if r.get("DeletionPolicy") == "Retain"}
    assert kept == {"ArtifactsBucket", "LockTable"}
    assert all(resources[n]["UpdateReplacePolicy"] == "Retain" for n in kept)
    table = resources["LockTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    bucket = resources["ArtifactsBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    ev = Evaluator(_template(scope, runner), GIVEN)
    denies = ev.resource("ArtifactsBucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [d["Condition"] for d in denies]


# --------------------------------------------------------------------------
# IAM: least privilege, and remediator's part is iam-policy's


def _inline_policies(ev: Evaluator) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{name}/{p['PolicyName']}", p["PolicyDocument"])
        for name, res in ev.of_type("AWS::IAM::Role").items()
        for p in res["Properties"].get("Policies", [])
    ]


def _parameter_sets(scope: str) -> list[dict[str, Any]]:
    if scope == "member":
        return [GIVEN]
    return [GIVEN, MINIMAL]  # every optional parameter given, and none


ACCEPTED_PARLIAMENT: dict[tuple[str, str], str] = {
    (
        "FleetStateMachineRole/fleet",
        "PERMISSIONS_MANAGEMENT_ACTIONS (MEDIUM):  at {'actions': ['iam:passrole']",
    ): (
        "--fleet-runner ecs: Step Functions must pass the task role and the execution role "
        "to ecs:RunTask; the statement names those two roles only, with iam:PassedToService "
        "ecs-tasks.amazonaws.com (test_ecs_pass_role_is_scoped)."
    ),
}
"""Findings above LOW accepted, each with its reason: (role/policy, finding line's start)."""


def _accepted(where: str, line: str) -> bool:
    return any(where == w and line.startswith(start) for w, start in ACCEPTED_PARLIAMENT)


def test_ecs_pass_role_is_scoped() -> None:
    ev = Evaluator(_template("account", "ecs"), {**MINIMAL, "SweepSubnets": "subnet-1"})
    policy = ev.resource("FleetStateMachineRole")["Properties"]["Policies"][0]["PolicyDocument"]
    (passing,) = [s for s in policy["Statement"] if "iam:PassRole" in s["Action"]]
    assert passing["Action"] == ["iam:PassRole"]
    assert passing["Resource"] == [
        ev.getatt("SweepTaskRole", "Arn"),
        ev.getatt("SweepTaskExecutionRole", "Arn"),
    ]
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }


@pytest.mark.parametrize(("scope", "runner"), VARIANTS)
def test_parliament_finds_nothing_above_low(scope: str, runner: str) -> None:
    """Every inline policy of every role, with every optional parameter given
    and with none, through parliament and its community auditors
    (``tests.lint_tools.parliament``: the findings above LOW)."""
    from tests import lint_tools

    tpl = _template(scope, runner)
    checked = 0
    for params in _parameter_sets(scope):
        for where, policy in _inline_policies(
            Evaluator(tpl, {**params, "SweepSubnets": "subnet-1"})
        ):
            found = [line for line in lint_tools.parliament(policy) if not _accepted(where, line)]
            assert found == [], where
            checked += 1
    assert checked >= 2


IAM_INLINE_LIMIT = 10_240
"""IAM quota: a role's inline policies together, whitespace not counted."""


@pytest.mark.parametrize(("scope", "runner"), VARIANTS)
def test_role_policies_fit_the_inline_quota(scope: str, runner: str) -> None:
    ev = Evaluator(_template(scope, runner), {**GIVEN, "SweepSubnets": "subnet-1"})
    for name, res in ev.of_type("AWS::IAM::Role").items():
        size = sum(
            len("".join(json.dumps(p["PolicyDocument"]).split()))
            for p in res["Properties"].get("Policies", [])
        )
        assert size <= IAM_INLINE_LIMIT * 0.8, (name, size)  # room for new change kinds


def _actions(policy: dict[str, Any]) -> set[str]:
    return set(iam.allowed_actions(policy))


@pytest.mark.parametrize(
    ("scope", "role", "mode_opts"),
    [
        ("account", "OperatorRole", {"mode": "auto", "notify_sns": "t", "lock_table": "l"}),
        (
            "organization",
            "OperatorRole",
            {
                "mode": "auto",
                "role_arn": "arn:aws:iam::{account_id}:role/r",
                "organization": True,
                "notify_sns": "t",
                "lock_table": "l",
            },
        ),
        ("account", "SweepBuildRole", {"mode": "auto", "notify_sns": "t", "lock_table": "l"}),
        ("account", "SweepTaskRole", {"mode": "auto", "notify_sns": "t", "lock_table": "l"}),
        ("member", "MemberRole", {"mode": "apply"}),
    ],
)
def test_remediator_policy_is_iam_policy_of_its_mode(
    scope: str, role: str, mode_opts: dict[str, Any]
) -> None:
    runner = "ecs" if role == "SweepTaskRole" else "codebuild"
    ev = Evaluator(
        _template(scope, runner),
        {**GIVEN, "SweepSubnets": "subnet-1", "SweepSecurityGroups": "sg-1"},
    )
    policies = {
        p["PolicyName"]: p["PolicyDocument"] for p in ev.resource(role)["Properties"]["Policies"]
    }
    wanted = iam.policy_document(iam.PolicyOptions(**mode_opts))
    assert _actions(policies["remediator"]) == _actions(wanted)
    for stmt in policies["remediator"]["Statement"]:
        text = json.dumps(stmt)
        assert "@" not in text, f"a placeholder was left in: {text}"
        if stmt["Sid"] == "ApplyLock":
            assert stmt["Resource"] == ev.getatt("LockTable", "Arn")
        if stmt["Sid"] == "NotifySummary":
            assert stmt["Resource"] == GIVEN["NotificationTopicArn"]
        if stmt["Sid"] == "AssumeMemberRoles":
            assert stmt["Resource"] == "arn:aws:iam::*:role/remediator-member"


def test_optional_statements_follow_their_parameters() -> None:
    tpl = _template("account", "none")

    def sids(params: dict[str, Any]) -> set[str]:
        role = Evaluator(tpl, params).resource("OperatorRole")["Properties"]["Policies"]
        return {s["Sid"] for p in role for s in p["PolicyDocument"]["Statement"]}

    everything, nothing = sids(GIVEN), sids(MINIMAL)
    assert everything - nothing == {"NotifySummary", "ReadPolicyFile", "VerifySignatures"}
    statement = next(
        s
        for p in Evaluator(tpl, GIVEN).resource("OperatorRole")["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if s["Sid"] == "ReadPolicyFile"
    )
    assert statement["Resource"] == "arn:aws:s3:::remediator-policies/prod/policy.toml"


def test_member_role_trusts_only_the_operator_roles() -> None:
    ev = Evaluator(template(DeployOptions(scope="member")), GIVEN)
    trust = ev.resource("MemberRole")["Properties"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"AWS": [GIVEN["OperatorRoleArns"]]}]
    other_region = Evaluator(
        template(DeployOptions(scope="member")), {**GIVEN, "RoleRegion": "eu-west-1"}
    )
    assert other_region.of_type("AWS::IAM::Role").keys() == {"ForwardRole"}


# --------------------------------------------------------------------------
# Function, handler, environment


def test_functions_run_the_handler_the_package_exports() -> None:
    tpl = _template("account", "none")
    for name in ("OperatorFunction", "SweepFunction"):
        props = tpl["Resources"][name]["Properties"]
        assert props["Handler"] == deploy.HANDLER
        assert props["Runtime"] in deploy.RUNTIMES
    module, _, attr = deploy.HANDLER.rpartition(".")
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        pytest.skip(f"{module} is not in this checkout yet")
    assert callable(getattr(imported, attr))


def test_sweep_input_and_environment_are_the_handler_contract() -> None:
    tpl = _template("organization", "none")
    target = tpl["Resources"]["SweepScheduleRule"]["Properties"]["Targets"][0]
    assert json.loads(target["Input"]) == deploy.SWEEP_EVENT
    env = Evaluator(tpl, GIVEN).resource("OperatorFunction")["Properties"]["Environment"][
        "Variables"
    ]
    assert env["REMEDIATOR_POLICY"] == GIVEN["PolicyUrl"]
    assert env["REMEDIATOR_OUT_DIR"] == "s3://remediator-artifactsbucket/runs"
    assert env["REMEDIATOR_ROLE_ARN"] == "arn:aws:iam::{account_id}:role/remediator-member"
    assert env["REMEDIATOR_REGIONS"] == "us-east-1"
    assert env["REMEDIATOR_NOTIFY_SNS"] == GIVEN["NotificationTopicArn"]
    packaged = Evaluator(tpl, {**MINIMAL, "PolicyPath": "config/policy.toml"})
    variables = packaged.resource("SweepFunction")["Properties"]["Environment"]["Variables"]
    assert variables["REMEDIATOR_POLICY"] == "config/policy.toml"
    assert "REMEDIATOR_NOTIFY_SNS" not in variables
    assert "REMEDIATOR_SIGNING_KEY" not in variables
    builtin = Evaluator(tpl, MINIMAL).resource("OperatorFunction")["Properties"]
    assert "REMEDIATOR_POLICY" not in builtin["Environment"]["Variables"]
    assert env["REMEDIATOR_SIGNING_KEY"] == f"kms:{GIVEN['SigningKeyArn']}"


# --------------------------------------------------------------------------
# The build script that sweeps one account-region


def _fake_bin(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/bash\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _run_build(
    tmp_path: Path,
    scope: str,
    params: dict[str, str],
    exit_code: int,
    target_account: str = ACCOUNT,
    runner: str = "codebuild",
) -> tuple[subprocess.CompletedProcess[str], list[str], str]:
    """Run the buildspec's command with ``python`` and ``aws`` replaced by
    recorders, with the project's variables as the stack sets them; return
    the build, remediate's argv and aws's calls."""
    spec = yaml.safe_load(deploy_fleet.buildspec("python3.12"))
    (command,) = spec["phases"]["build"]["commands"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_bin(bin_dir, "python", f'printf "%s\\n" "$@" > "$RECORD/argv"\nexit {exit_code}\n')
    _fake_bin(
        bin_dir, "aws", f'echo "$*" >> "$RECORD/aws"\n[ "$1" = sts ] && echo {ACCOUNT}\nexit 0\n'
    )
    ev = Evaluator(_template(scope, runner), {**MINIMAL, "SweepSubnets": "subnet-1", **params})
    if runner == "ecs":
        (container,) = ev.resource("SweepTaskDefinition")["Properties"]["ContainerDefinitions"]
        assert container["EntryPoint"] == ["bash", "-c"]
        (command,) = container["Command"]
        listed = container["Environment"]
        where = {}
    else:
        listed = ev.resource("SweepProject")["Properties"]["Environment"]["EnvironmentVariables"]
        where = {"CODEBUILD_SRC_DIR": str(tmp_path)}
    variables = {v["Name"]: str(v["Value"]) for v in listed}
    run_env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RECORD": str(tmp_path),
        **where,
        "TARGET_ACCOUNT": target_account,
        "TARGET_REGION": "eu-west-1",
        "RUN_ID": "exec-1",
        **variables,
    }
    proc = subprocess.run(
        ["bash", "-c", command],
        env=run_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    argv = (tmp_path / "argv").read_text().splitlines() if (tmp_path / "argv").exists() else []
    calls = (tmp_path / "aws").read_text() if (tmp_path / "aws").exists() else ""
    return proc, argv, calls


@pytest.mark.parametrize(
    ("remediate_exit", "build_exit"), [(0, 0), (2, 0), (6, 0), (1, 1), (3, 3), (4, 4), (5, 5)]
)
def test_build_succeeds_on_the_exit_codes_of_a_good_run(
    tmp_path: Path, remediate_exit: int, build_exit: int
) -> None:
    proc, argv, calls = _run_build(tmp_path, "account", {}, remediate_exit)
    assert proc.returncode == build_exit, proc.stderr
    assert argv[:3] == ["-m", "remediator", "auto"]
    assert argv[argv.index("--out-dir") + 1] == f"{tmp_path}/out"
    assert (
        f"s3 cp --recursive --only-show-errors {tmp_path}/out s3://remediator-artifactsbucket/runs/exec-1/{ACCOUNT}-eu-west-1/"
        in calls
    )


def test_build_passes_the_stack_configuration_to_remediate_auto(tmp_path: Path) -> None:
    params = {
        "PolicyUrl": GIVEN["PolicyUrl"],
        "NotificationTopicArn": GIVEN["NotificationTopicArn"],
    }
    proc, argv, calls = _run_build(
        tmp_path, "organization", params, 0, target_account="222222222222"
    )
    assert proc.returncode == 0, proc.stderr
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert pairs["--region"] == "eu-west-1"
    assert pairs["--role-arn"] == "arn:aws:iam::{account_id}:role/remediator-member"
    assert pairs["--accounts-file"] == "accounts.txt"
    assert (tmp_path / "accounts.txt").read_text().strip() == "222222222222"
    assert pairs["--policy"] == "policy.toml"
    assert f"s3 cp --only-show-errors {GIVEN['PolicyUrl']} policy.toml" in calls
    assert pairs["--notify-sns"] == GIVEN["NotificationTopicArn"]
    assert pairs["--max-risk"] == "low" and pairs["--max-changes"] == "25"
    assert pairs["--lock-table"] == "remediator-locktable"
    assert "--dry-run" not in argv


def test_build_dry_run_follows_the_parameter(tmp_path: Path) -> None:
    proc, argv, _ = _run_build(tmp_path, "account", {"DryRun": "true"}, 0)
    assert proc.returncode == 0, proc.stderr
    assert "--dry-run" in argv


def test_build_reads_a_packaged_policy_and_leaves_out_an_empty_topic(tmp_path: Path) -> None:
    proc, argv, calls = _run_build(tmp_path, "account", {"PolicyPath": "policy.toml"}, 0)
    assert proc.returncode == 0, proc.stderr
    assert argv[argv.index("--policy") + 1] == "policy.toml"
    assert "--notify-sns" not in argv and "--role-arn" not in argv
    assert "s3 cp --only-show-errors s3://" not in calls


def test_ecs_task_runs_the_same_script_with_the_same_configuration(tmp_path: Path) -> None:
    params = {"PolicyUrl": GIVEN["PolicyUrl"], "DryRun": "true"}
    proc, argv, calls = _run_build(tmp_path, "organization", params, 2, "222222222222", "ecs")
    assert proc.returncode == 0, proc.stderr
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert pairs["--out-dir"] == "/tmp/out"  # no CodeBuild source folder in a container
    assert pairs["--role-arn"] == "arn:aws:iam::{account_id}:role/remediator-member"
    assert "--dry-run" in argv and pairs["--policy"] == "policy.toml"
    assert (
        "s3 cp --recursive --only-show-errors /tmp/out s3://remediator-artifactsbucket/runs/exec-1/222222222222-eu-west-1/"
        in calls
    )


def test_account_build_refuses_another_account(tmp_path: Path) -> None:
    proc, argv, _ = _run_build(tmp_path, "account", {}, 0, target_account="999999999999")
    assert proc.returncode == 1
    assert "not this stack's account" in proc.stderr
    assert argv == []


# --------------------------------------------------------------------------
# Options and YAML


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"scope": "region"}, "--scope 'region'"),
        ({"fleet_runner": "lambda"}, "--fleet-runner 'lambda'"),
        ({"sweep_schedule": "rate(1 hours)"}, "--sweep-schedule"),
        ({"sweep_schedule": "rate(2 hour)"}, "--sweep-schedule"),
        ({"sweep_schedule": "every hour"}, "--sweep-schedule"),
        ({"delay": 901}, "--delay 901"),
        ({"max_risk": "extreme"}, "--max-risk 'extreme'"),
        ({"runtime": "python3.9"}, "--runtime 'python3.9'"),
    ],
)
def test_bad_options_are_one_error(opts: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        template(DeployOptions(**opts))


@pytest.mark.parametrize(
    "expression", ["rate(1 hour)", "rate(15 minutes)", "rate(1 day)", "cron(0 3 * * ? *)"]
)
def test_schedule_expressions_accepted(expression: str) -> None:
    tpl = template(DeployOptions(sweep_schedule=expression))
    assert tpl["Parameters"]["SweepSchedule"]["Default"] == expression


@pytest.mark.parametrize(("scope", "runner"), VARIANTS)
def test_yaml_and_json_are_the_same_template(scope: str, runner: str) -> None:
    opts = DeployOptions(scope=scope, fleet_runner=runner)
    assert yaml.safe_load(render(opts, "yaml")) == json.loads(render(opts, "json"))


def test_template_is_deterministic() -> None:
    opts = DeployOptions(scope="organization")
    assert render(opts) == render(opts)


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | _text
    | st.sampled_from(
        [
            "yes",
            "No",
            "null",
            "~",
            "1e3",
            "0x1F",
            "12:30",
            "- a",
            "a: b",
            "a #b",
            "*x",
            "&y",
            "!Ref",
            "line\nline\n",
            " lead\nx",
            "x\n\n",
            "tail \nx",
        ]
    )
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(_text | st.sampled_from(["A\n", "a: b", "yes", "1"]), _documents, max_size=5)
)
def test_yaml_reads_back_as_the_same_data(document: dict[str, Any]) -> None:
    assert yaml.safe_load(to_yaml(document)) == document


# --------------------------------------------------------------------------
# docs/operator.md


OPERATOR_DOC = Path(__file__).resolve().parents[2] / "docs" / "operator.md"


def _deploy_section() -> str:
    text = OPERATOR_DOC.read_text(encoding="utf-8")
    return text[text.index("## Deploy") :]


def test_every_deploy_template_command_in_the_docs_runs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from remediator.cli.main import app
    from tests.docs.test_docs_commands import commands

    doc = tmp_path / "deploy.md"
    doc.write_text(_deploy_section())
    found = [c for c in commands(doc) if c.startswith("remediate deploy-template")]
    assert len(found) >= 6
    for command in found:
        line, _, target = command.partition(">")
        args = shlex.split(line)[1:]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (command, result.stderr)
        assert yaml.safe_load(result.stdout)["Resources"], command
        assert target.strip().endswith((".yaml", ".json")), command


def test_docs_targets_example_is_what_the_state_machine_reads() -> None:
    import re

    (block,) = re.findall(r"```json\n(.*?)```", _deploy_section(), re.S)
    selector = deploy_fleet.definition()["States"]["SweepTargets"]["ItemSelector"]
    read = {v.rsplit(".", 1)[1] for k, v in selector.items() if "Map.Item.Value" in v}
    for item in json.loads(block):
        assert set(item) == read


def test_docs_list_every_parameter_and_rule_event() -> None:
    text = _deploy_section()
    for scope, runner in VARIANTS:
        for name in _template(scope, runner)["Parameters"]:
            assert f"`{name}`" in text, name
    for name in (*deploy.LAMBDA_EVENT_PREFIXES, *deploy.EC2_EVENT_NAMES):
        assert f"`{name}" in text, name


# What the template sets that the handler does not read: nothing (the sweep
# reads the regions, the organization's role and the signing key).
NOT_READ_BY_HANDLER: frozenset[str] = frozenset()


def test_environment_names_are_the_handlers() -> None:
    event_config = pytest.importorskip("remediator.run.event_config")
    from remediator.render.deploy_parts import environment

    names = set(environment(DeployOptions(scope="organization")))
    assert names - set(event_config.ENVIRONMENT) == NOT_READ_BY_HANDLER
