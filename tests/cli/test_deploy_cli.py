"""`remediate deploy-template`: the template on stdout (YAML by default),
one `Error:` line and exit 1 for a bad option, no AWS call."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner, Result

from remediator.cli.main import app
from remediator.render.deploy import DeployOptions
from remediator.render.deploy_template import template


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["deploy-template", *args])


def test_default_is_the_account_template_in_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    # no credentials, no region, no endpoint: the template is pure output
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any call would fail
    result = run()
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith('AWSTemplateFormatVersion: "2010-09-09"\n')
    assert yaml.safe_load(result.stdout) == json.loads(json.dumps(template(DeployOptions())))
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "resource", "absent"),
    [
        (["--scope", "organization"], "CentralBus", "SweepFunction"),
        (["--fleet-runner", "none"], "SweepFunction", "FleetStateMachine"),
        (["--fleet-runner", "ecs"], "SweepTaskDefinition", "SweepProject"),
        (["--scope", "organization", "--fleet-runner", "none"], "MemberStackSet", "SweepProject"),
        (["--scope", "member"], "MemberRole", "OperatorFunction"),
    ],
)
def test_options_choose_the_variant(args: list[str], resource: str, absent: str) -> None:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    resources = json.loads(result.stdout)["Resources"]
    assert resource in resources and absent not in resources


def test_parameter_defaults_come_from_the_options() -> None:
    result = run(
        "--sweep-schedule", "rate(6 hours)", "--max-risk", "medium", "--delay", "300",
        "--runtime", "python3.13", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    tpl = json.loads(result.stdout)
    defaults = {k: v.get("Default") for k, v in tpl["Parameters"].items()}
    assert defaults["SweepSchedule"] == "rate(6 hours)"
    assert defaults["MaxRisk"] == "medium" and defaults["DelaySeconds"] == 300
    assert tpl["Resources"]["OperatorFunction"]["Properties"]["Runtime"] == "python3.13"
    assert 'python: "3.13"' in tpl["Resources"]["SweepProject"]["Properties"]["Source"]["BuildSpec"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep-schedule", "hourly"], "Error: --sweep-schedule 'hourly' is not an EventBridge"),
        (["--delay", "1000"], "Error: --delay 1000 is outside 0..900 seconds"),
        (
            ["--max-risk", "critical"],
            "Error: --max-risk 'critical' is not one of low, medium, high.",
        ),
        (["--scope", "region"], "Error: Invalid value for '--scope'"),
        (["--fleet-runner", "lambda"], "Error: Invalid value for '--fleet-runner'"),
        (["--format", "toml"], "Error: Invalid value for '--format'"),
    ],
)
def test_bad_option_is_one_error_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr
