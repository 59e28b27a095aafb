"""`remediate auto`, `remediate iam-policy` and `--format asff` through the
command line against a moto server (tests/cli/conftest.py): exit codes, the
one-line JSON summary as the last line of stdout, JSON log lines on stderr,
one-line errors.

The server's world is reseeded only after a test that changed it.
"""

from __future__ import annotations

import io
import json
import re
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from remediator import sandbox
from remediator.cli import auto as cli_auto
from remediator.cli.main import app

REGION = sandbox.REGION
HOME = sandbox.ACCOUNT_ID
OTHER = "222222222222"
ROLE = "arn:aws:iam::{account_id}:role/remediator"


class _IamOnce:
    def __init__(self, iam: Any) -> None:
        self._iam = iam

    def create_role(self, **kwargs: Any) -> Any:
        try:
            return self._iam.create_role(**kwargs)
        except self._iam.exceptions.EntityAlreadyExistsException:
            return self._iam.get_role(RoleName=kwargs["RoleName"])


class World:
    """The module server's sandbox: (re)seeded on demand, in one or more
    account-regions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seeded: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def session(self, account: str = HOME) -> boto3.session.Session:
        base = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        if account == HOME:
            return base
        creds = base.client("sts", endpoint_url=self.url).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed"
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=REGION,
        )

    def ensure(self, accounts: Sequence[str] = (HOME,), regions: Sequence[str] = (REGION,)) -> None:
        wanted = (tuple(accounts), tuple(regions))
        if self.seeded == wanted:
            return
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        for account in accounts:
            session = self.session(account)
            iam = _IamOnce(session.client("iam", endpoint_url=self.url))
            for region in regions:
                clients = {
                    s: session.client(s, region_name=region, endpoint_url=self.url)
                    for s in ("ec2", "lambda")
                }
                sandbox.seed({**clients, "iam": iam}, region)
        self.seeded = wanted

    def changed(self) -> None:
        self.seeded = None

    def subnets(self, function: str, account: str = HOME, region: str = REGION) -> list[str]:
        lam = self.session(account).client("lambda", region_name=region, endpoint_url=self.url)
        return list(lam.get_function_configuration(FunctionName=function)["VpcConfig"]["SubnetIds"])


@pytest.fixture(scope="module")
def world(moto_server: Any) -> World:
    return World(moto_server.url)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def summary_of(result: Result) -> dict[str, Any]:
    """The last line of stdout, which must be the run summary."""
    last = result.stdout.rstrip("\n").splitlines()[-1]
    data: dict[str, Any] = json.loads(last)
    assert data["exit_code"] == result.exit_code
    return data


def log_lines(result: Result) -> list[dict[str, Any]]:
    """stderr is JSON lines (not a terminal), apart from `Error:` lines."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return [json.loads(line) for line in lines if not line.startswith("Error:")]


# --------------------------------------------------------------------------
# iam-policy


@pytest.mark.parametrize("mode", ["plan", "apply", "auto"])
def test_iam_policy_prints_a_policy_document(mode: str) -> None:
    result = run("iam-policy", "--mode", mode)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["Version"] == "2012-10-17"
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert ("lambda:UpdateFunctionConfiguration" in actions) is (mode != "plan")


def test_iam_policy_for_a_multi_account_runner() -> None:
    topic = f"arn:aws:sns:{REGION}:{HOME}:ops"
    result = run(
        "iam-policy", "--mode", "auto", "--role-arn", ROLE, "--organization", "--notify-sns", topic
    )
    assert result.exit_code == 0, result.stderr
    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert statements["AssumeMemberRoles"]["Resource"] == "arn:aws:iam::*:role/remediator"
    assert statements["NotifySummary"]["Resource"] == topic
    assert "DiscoverLambda" not in statements


def test_iam_policy_refuses_options_of_another_mode() -> None:
    result = run("iam-policy", "--mode", "plan", "--role-arn", ROLE)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --role-arn, --organization and --notify-sns belong")


def test_iam_policy_reachability_adds_the_analyzer_for_apply_only() -> None:
    result = run("iam-policy", "--mode", "apply", "--reachability")
    assert result.exit_code == 0, result.stderr
    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert "ec2:StartNetworkInsightsAnalysis" in statements["VerifyReachability"]["Action"]
    refused = run("iam-policy", "--mode", "plan", "--reachability")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: --reachability belongs to --mode apply")


def test_an_unknown_verify_is_one_error_line_and_a_summary_line() -> None:
    result = run("auto", "--verify", "both", "--out-dir", "out")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: --verify 'both' is not one of model, reachability."]
    assert summary_of(result)["outcome"] == "error"


# --------------------------------------------------------------------------
# --format asff


def test_plan_and_show_in_asff(world: World, tmp_path: Path) -> None:
    world.ensure()
    planned = run(
        "plan", "--endpoint-url", world.url, "-r", REGION, "-o", "p.json", "--format", "asff"
    )
    assert planned.exit_code == 0, planned.stderr
    findings = json.loads(planned.stdout)
    names = sorted(
        f["Resources"][0]["Details"]["AwsLambdaFunction"]["FunctionName"] for f in findings
    )
    assert names == ["ledger-sync", "legacy-cron", "orders-api", "payments-api", "reports-nightly"]
    shown = run("show", "p.json", "--format", "asff")
    assert shown.exit_code == 0
    assert shown.stdout == planned.stdout


# --------------------------------------------------------------------------
# auto: exit paths


def test_bad_input_is_one_error_line_and_a_summary_line() -> None:
    result = run("auto", "--shard", "3/2", "--out-dir", "out")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: --shard '3/2' is not I/N with 1 <= I <= N. Pass e.g. --shard 1/3 (this runner takes the first of three shards)."
    ]
    data = summary_of(result)
    assert data["outcome"] == "error" and data["error"].startswith("--shard '3/2'")
    assert not Path("out").exists()


def test_unreadable_accounts_file_is_bad_input(tmp_path: Path) -> None:
    result = run("auto", "--accounts-file", "missing.txt", "--role-arn", ROLE)
    assert result.exit_code == 1
    assert "Cannot read --accounts-file missing.txt" in result.stderr
    assert summary_of(result)["outcome"] == "error"


def test_nothing_to_do_exits_0(world: World) -> None:
    world.ensure()
    result = run(
        "auto",
        "--endpoint-url",
        world.url,
        "-r",
        REGION,
        "-f",
        "orders-fulfil",
        "-f",
        "thumbnailer",
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    data = summary_of(result)
    assert data["outcome"] == "clean" and data["changes_applied"] == 0
    # Without --out-dir: a new folder under runs/ named by the time.
    assert re.fullmatch(r"runs/\d{8}T\d{6}Z", data["out_dir"]), data["out_dir"]
    assert (Path(data["out_dir"]) / "summary.json").is_file()


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    bar, update = cli_auto._progress()
    assert update is not None
    with bar:
        update("plan", 1, 2)
        update("plan", 2, 2)
        update("apply", 1, 1)
    assert [t.description for t in bar.tasks] == ["plan account-regions", "apply account-regions"]
    assert all(t.finished for t in bar.tasks)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert cli_auto._progress()[1] is None


def test_everything_fixed_exits_6_and_a_used_out_dir_is_refused(world: World) -> None:
    world.ensure()
    args = ["auto", "--endpoint-url", world.url, "-r", REGION, "--out-dir", "out"]
    result = run(*args, "-f", "orders-api", "--max-risk", "high")
    world.changed()
    assert result.exit_code == 6, result.stdout + result.stderr
    data = summary_of(result)
    assert data["outcome"] == "fixed"
    assert data["changes_applied"] == 2  # the subnets, then the alias
    assert "Exit 6: fixed everything." in result.stdout

    again = run(*args)
    assert again.exit_code == 1
    assert "holds the artifacts of an earlier run" in again.stderr
    assert summary_of(again)["outcome"] == "error"


def test_two_accounts_through_the_command(world: World, tmp_path: Path) -> None:
    """The member role is assumed over the wire and the fix lands in the other
    account; the runner's own account is empty here (tests/integration/
    test_auto.py runs the full two accounts x two regions)."""
    world.ensure(accounts=(OTHER,), regions=("eu-west-1",))
    Path("accounts.txt").write_text(f"# the fleet\n{HOME}\n{OTHER}  # payments\n")

    result = run(
        "auto",
        "--endpoint-url",
        world.url,
        "-r",
        "eu-west-1",
        "--accounts-file",
        "accounts.txt",
        "--role-arn",
        ROLE,
        "--out-dir",
        "out",
    )
    world.changed()

    assert result.exit_code == 2, result.stdout + result.stderr
    data = summary_of(result)
    assert data["targets_total"] == 2
    assert data["counts"]["review"] == 1 and data["counts"]["clean"] == 1
    assert data["changes_applied"] == 1
    home, other = data["targets"]
    assert (home["account_id"], home["outcome"], home["review"]) == (HOME, "clean", None)
    assert other["account_id"] == OTHER and other["outcome"] == "review"
    assert other["review"] == f"{OTHER}/eu-west-1/review.json"
    folder = Path("out") / OTHER / "eu-west-1"
    assert (folder / "review.json").is_file() and (folder / "plan.journal.jsonl").is_file()
    # orders-api is now on the private subnets orders-fulfil uses
    assert sorted(world.subnets("orders-api", OTHER, "eu-west-1")) == sorted(
        world.subnets("orders-fulfil", OTHER, "eu-west-1")
    )
    human = result.stdout.splitlines()[:-1]
    assert [line.split()[:3] for line in human[:-1]] == [
        [HOME, "eu-west-1", "clean"],
        [OTHER, "eu-west-1", "review"],
    ]
    assert "Exit 2: changes left for review." in human[-1]

    logs = log_lines(result)
    assert logs and {e["run_id"] for e in logs} == {data["run_id"]}
    assert {e["account"] for e in logs if "account" in e} == {HOME, OTHER}
    (change,) = [e for e in logs if e["event"] == "change_applied"]
    assert (change["account"], change["region"]) == (OTHER, "eu-west-1")
    assert change["plan_id"] == other["plan_id"] and change["outcome"] == "ok"
    assert change["seconds"] >= 0
