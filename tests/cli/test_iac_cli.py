"""`remediate iac-patch` and `remediate show --iac-dir`: one test per exit path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner, Result

from remediator import planfile
from remediator.cli.main import app
from remediator.planfile.model import Plan
from tests.integration.test_iac_patch_flow import _own, _plan, _template
from tests.integration.test_plan_scenarios import REGION, Aws, _shop


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _error_line(result: Result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    return line


@pytest.fixture
def owned_plan(tmp_path: Path) -> Iterator[tuple[Path, Plan]]:
    """A plan of a CloudFormation stack whose function has a public subnet."""
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        aws = Aws(session, session.client("ec2"), session.client("lambda"), session.client("iam"))
        shop = _shop(aws)
        cf: Any = session.client("cloudformation")
        subnets = f"[{shop.public_a}, {shop.private_a}, {shop.private_b}]"
        cf.create_stack(StackName="orders", TemplateBody=_template(aws, shop, subnets))
        _own(aws, cf, "orders")
        plan = _plan()
        path = tmp_path / "plan.json"
        planfile.write_plan(plan, path)
        yield path, plan


def test_iac_patch_writes_the_patch_and_show_puts_it_in_the_review(
    owned_plan: tuple[Path, Plan], tmp_path: Path
) -> None:
    path, plan = owned_plan
    out = tmp_path / "patches"
    result = _run("iac-patch", str(path), "--out-dir", str(out))
    assert result.exit_code == 0, result.stderr
    assert "stack orders (us-east-1): orders.template.yaml, orders.diff" in result.stdout
    assert "  orders-fn: template - Resources.Fn.Properties.VpcConfig.SubnetIds" in result.stdout
    index = json.loads((out / "iac-patch.json").read_text())
    assert index["plan_id"] == plan.plan_id

    shown = _run("show", str(path), "--format", "markdown", "--iac-dir", str(out))
    assert shown.exit_code == 0, shown.stderr
    text = shown.stdout
    assert "Owner: CloudFormation stack `orders`, logical id `Fn`" in text
    assert "## Template patches" in text and "```diff" in text
    assert "-        SubnetIds: [" in text  # the diff's removed line
    # without --iac-dir the owner line is there, the patches are not
    plain = _run("show", str(path), "--format", "markdown").stdout
    assert "Owner: CloudFormation stack" in plain and "## Template patches" not in plain


def test_iac_patch_of_a_missing_plan_is_one_error_line(tmp_path: Path) -> None:
    line = _error_line(_run("iac-patch", str(tmp_path / "nope.json"), "--out-dir", str(tmp_path)))
    assert "nope.json" in line


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--format", "text"], "--iac-dir is for the Markdown review"),
        (["--format", "markdown"], "holds no iac-patch.json"),
    ],
)
def test_show_iac_dir_refuses_what_it_cannot_show(
    owned_plan: tuple[Path, Plan], tmp_path: Path, extra: list[str], words: str
) -> None:
    path, _ = owned_plan
    empty = tmp_path / "empty"
    empty.mkdir()
    assert words in _error_line(_run("show", str(path), *extra, "--iac-dir", str(empty)))


def test_show_iac_dir_of_another_plan_is_refused(
    owned_plan: tuple[Path, Plan], tmp_path: Path
) -> None:
    path, _ = owned_plan
    other = tmp_path / "other"
    other.mkdir()
    (other / "iac-patch.json").write_text(json.dumps({"plan_id": "plan-x", "stacks": []}))
    line = _error_line(_run("show", str(path), "--format", "markdown", "--iac-dir", str(other)))
    assert "plan-x" in line
