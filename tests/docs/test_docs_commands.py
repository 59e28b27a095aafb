"""Every `remediate` command in the docs runs, against the sandbox, with the
exit code the docs promise.

The commands are read out of the files themselves (fenced code blocks of
the Markdown pages, every line of the workflow files; ``\\`` continuations
joined; a leading ``- ``/``run: `` dropped), the shell variables the
recipes use are given test values, and each command runs through the CLI
(``CliRunner``) with ``AWS_ENDPOINT_URL`` pointing at a moto server
(``sandbox.run_server``) seeded with the sandbox (account 123456789012,
us-east-1; eu-west-1 and account 222222222222 exist and are empty). ``>``
and ``2>`` redirections write the captured stdout/stderr to the file.

Each docs file has an ordered list of expectations (a pattern and the exit
codes allowed on the sandbox): a command added to a docs file without an
expectation here fails the test.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
import yaml
from typer.testing import CliRunner

from remediator import sandbox
from remediator.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HOME = sandbox.ACCOUNT_ID
OTHER = "222222222222"
REGIONS = ("us-east-1", "eu-west-1")
SEEDED = "us-east-1"  # the sandbox; eu-west-1 and account 222222222222 are empty


# --------------------------------------------------------------------------
# Reading commands out of the docs


def commands(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    blocks = (
        re.findall(r"^\s*```[^\n]*\n(.*?)^\s*```", text, re.S | re.M)
        if path.suffix == ".md"
        else [text]
    )
    found = []
    for block in blocks:
        joined, pending = [], ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            joined.append(pending + line)
            pending = ""
        for line in joined:
            stripped = line.strip()
            for prefix in ("- run: ", "run: ", "- "):
                if stripped.startswith(prefix):
                    stripped = stripped[len(prefix) :]
                    break
            if stripped.startswith("remediate "):
                found.append(stripped)
    return found


def test_commands_are_found_in_every_recipe() -> None:
    for name in ("auto.md", "eventbridge.md", "cron.md", "ci/github-actions.yml"):
        assert commands(DOCS / name), name
    assert commands(DOCS / "cron.md") == [
        line.strip()
        for line in (DOCS / "cron.md").read_text().splitlines()
        if line.startswith("remediate ")
    ]


# --------------------------------------------------------------------------
# The sandbox


@dataclass
class Sandbox:
    url: str
    topics: dict[str, str]


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    server, url = sandbox.run_server(0)
    try:
        request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        iam = session.client("iam", endpoint_url=url)
        clients = {
            s: session.client(s, region_name=SEEDED, endpoint_url=url) for s in ("ec2", "lambda")
        }
        sandbox.seed({**clients, "iam": iam}, SEEDED)
        session.client("organizations", endpoint_url=url).create_organization(FeatureSet="ALL")
        session.client("dynamodb", endpoint_url=url).create_table(
            TableName="remediator-locks",
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        topics = {
            region: session.client("sns", region_name=region, endpoint_url=url).create_topic(
                Name="remediator"
            )["TopicArn"]
            for region in REGIONS
        }
        yield Sandbox(url, topics)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@dataclass
class Ran:
    command: str
    exit_code: int
    stdout: str
    stderr: str


def run_docs_command(command: str, variables: dict[str, str], world: Sandbox, cwd: Path) -> Ran:
    for name in sorted(variables, key=len, reverse=True):
        command = command.replace(name, variables[name])
    assert "$" not in command, f"unsubstituted variable in {command!r}"
    tokens = shlex.split(command)
    outputs: dict[str, Path] = {}
    for op in ("2>", ">"):
        if op in tokens:
            at = tokens.index(op)
            outputs[op] = cwd / tokens[at + 1]
            del tokens[at : at + 2]
    assert tokens[0] == "remediate"
    env = {
        "AWS_ENDPOINT_URL": world.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "XDG_STATE_HOME": str(cwd / ".state"),
    }
    result = CliRunner().invoke(app, tokens[1:], env=env)
    structlog.reset_defaults()
    for op, text in ((">", result.stdout), ("2>", result.stderr)):
        if op in outputs:
            outputs[op].parent.mkdir(parents=True, exist_ok=True)
            outputs[op].write_text(text)
    return Ran(command, result.exit_code, result.stdout, result.stderr)


def run_all(
    path: Path,
    expectations: list[tuple[str, set[int]]],
    variables: dict[str, str],
    world: Sandbox,
    cwd: Path,
) -> list[Ran]:
    found = commands(path)
    assert len(found) == len(expectations), (
        f"{path.name}: {len(found)} commands, {len(expectations)} expectations: {found}"
    )
    ran = []
    for command, (pattern, codes) in zip(found, expectations, strict=True):
        assert re.search(pattern, command), (pattern, command)
        outcome = run_docs_command(command, variables, world, cwd)
        assert outcome.exit_code in codes, (command, outcome.stdout[-2000:], outcome.stderr[-2000:])
        assert "Traceback" not in outcome.stderr
        ran.append(outcome)
    return ran


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.txt").write_text(f"# the fleet\n{HOME}\n{OTHER}\n")
    shutil.copy(ROOT / "plans" / "policy.example.toml", tmp_path / "remediator-policy.toml")
    return tmp_path


def last_json(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text.rstrip("\n").splitlines()[-1])
    return data


# --------------------------------------------------------------------------
# The recipes


def test_github_actions_plan_and_approved_apply(world: Sandbox, cwd: Path) -> None:
    path = DOCS / "ci" / "github-actions.yml"
    workflow = yaml.safe_load(path.read_text())
    region = workflow["env"]["AWS_REGION"]
    assert region == SEEDED
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"schedule", "pull_request", "workflow_dispatch"} <= set(triggers)
    plan_job, apply_job = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    upload = next(s for s in plan_job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "plan/"
    assert apply_job["needs"] == "plan"
    assert apply_job["environment"] == "production"
    assert "pull_request" in apply_job["if"]  # never applies from a pull request

    ran = run_all(
        path,
        [
            (r"^remediate plan .*--detailed-exitcode", {2}),
            (r"^remediate show .*--format markdown > plan/report.md$", {0}),
            (r"^remediate show .*--format asff --out-dir plan/asff$", {0}),
            (r"^remediate approve plan/plan.json ", {0}),
            (r"^remediate apply plan/plan.json --approval plan/plan.approval.json$", {0}),
        ],
        {'"$AWS_REGION"': region, '"$approver"': "ana", "$GITHUB_RUN_ID": "42"},
        world,
        cwd,
    )
    assert (cwd / "plan" / "report.md").read_text().startswith("#")
    batches = sorted((cwd / "plan" / "asff").glob("asff-*.json"))
    assert batches and all(len(json.loads(b.read_text())) <= 100 for b in batches)
    assert "Approved" in ran[3].stdout and "by ana" in ran[3].stdout
    assert "verification passed" in ran[4].stdout


def test_github_actions_sharded_auto_covers_every_pair_once(world: Sandbox, cwd: Path) -> None:
    path = DOCS / "ci" / "github-actions-auto.yml"
    workflow = yaml.safe_load(path.read_text())
    shards = workflow["jobs"]["auto"]["strategy"]["matrix"]["shard"]
    assert shards == [1, 2, 3]
    seen: list[tuple[str, str]] = []
    codes = []
    for shard in shards:
        (ran,) = run_all(
            path,
            [(r"^remediate auto .*--shard \$\{\{ matrix.shard \}\}/3 ", {0, 2})],
            {"${{ matrix.shard }}": str(shard), '"$TOPIC_ARN"': world.topics["us-east-1"]},
            world,
            cwd,
        )
        summary = last_json((cwd / "out" / f"stdout-{shard}.txt").read_text())
        assert summary["shard"] == f"{shard}/3"
        assert summary["notification"]["error"] is None
        seen += [(t["account_id"], t["region"]) for t in summary["targets"]]
        codes.append(ran.exit_code)
    assert sorted(seen) == sorted((a, r) for a in (HOME, OTHER) for r in REGIONS)
    assert 2 in codes


def test_eventbridge_recipe(world: Sandbox, cwd: Path) -> None:
    path = DOCS / "eventbridge.md"
    ran = run_all(
        path,
        [
            (r"^remediate iam-policy --mode auto .* > runner-policy.json$", {0}),
            (r"^remediate iam-policy --mode apply > member-policy.json$", {0}),
            (r"^remediate auto --organization .*--lock-table remediator-locks", {2}),
        ],
        {"$CODEBUILD_BUILD_NUMBER": "7", '"$TOPIC_ARN"': world.topics["us-east-1"]},
        world,
        cwd,
    )
    runner = json.loads((cwd / "runner-policy.json").read_text())
    assert {s["Sid"] for s in runner["Statement"]} >= {"AssumeMemberRoles", "ApplyLock"}
    member = json.loads((cwd / "member-policy.json").read_text())
    assert any("lambda:UpdateFunctionConfiguration" in s["Action"] for s in member["Statement"])
    summary = last_json((cwd / "out" / "stdout-7.txt").read_text())
    assert summary["outcome"] == "review" and summary["notification"]["error"] is None
    assert ran[2].exit_code == 2

    # The CloudFormation template: a schedule starting the build that runs it.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    block = next(
        b
        for b in re.findall(r"^```yaml\n(.*?)^```", path.read_text(), re.S | re.M)
        if "AWSTemplateFormatVersion" in b
    )
    template = yaml.load(block, Loader=Loader)
    resources = template["Resources"]
    assert resources["Nightly"]["Type"] == "AWS::Events::Rule"
    assert resources["Project"]["Type"] == "AWS::CodeBuild::Project"
    buildspec = yaml.safe_load(resources["Project"]["Properties"]["Source"]["BuildSpec"])
    assert any("remediate auto" in c for c in buildspec["phases"]["build"]["commands"])


def test_cron_script(world: Sandbox, cwd: Path) -> None:
    out = "runs/20260101T031700Z"
    (ran,) = run_all(
        DOCS / "cron.md",
        [(r"^remediate auto .*--notify-sns arn:aws:sns:eu-west-1:123456789012:remediator", {2})],
        {"$OUT": out},
        world,
        cwd,
    )
    summary = last_json((cwd / out / "stdout.txt").read_text())
    assert summary["exit_code"] == ran.exit_code == 2
    assert summary["notification"]["topic"] == world.topics["eu-west-1"]
    assert summary["notification"]["error"] is None
    logs = [json.loads(line) for line in (cwd / out / "log.jsonl").read_text().splitlines()]
    assert logs and all(e["run_id"] == summary["run_id"] for e in logs)
    assert (cwd / out / "summary.json").is_file()


def test_auto_page(world: Sandbox, cwd: Path) -> None:
    review = "runs/nightly/123456789012/us-east-1/review"
    ran = run_all(
        DOCS / "auto.md",
        [
            (r"^remediate auto --region eu-west-1 --region us-east-1 --out-dir runs/nightly$", {2}),
            (r"^remediate auto .*--dry-run$", {2}),
            (rf"^remediate show {review}.json --format markdown$", {0}),
            (rf"^remediate approve {review}.json ", {0}),
            (rf"^remediate apply {review}.json --approval {review}.approval.json$", {0}),
            (r"^remediate auto --accounts-file accounts.txt ", {2}),
            (r"^remediate auto --organization ", {2}),
            (r"^remediate auto .*--shard \$\{\{ matrix.shard \}\}/3 ", {0, 2}),
            (r"^remediate iam-policy --mode plan$", {0}),
            (r"^remediate iam-policy --mode apply --lock-table remediator-locks$", {0}),
            (r"^remediate iam-policy --mode auto ", {0}),
        ],
        {"${{ matrix.shard }}": "1"},
        world,
        cwd,
    )
    nightly = last_json(ran[0].stdout)
    assert nightly["targets_total"] == 2 and nightly["outcome"] == "review"
    assert last_json(ran[1].stdout)["dry_run"] is True
    assert "Approved" in ran[3].stdout
    fleet = last_json(ran[5].stdout)
    assert {t["account_id"] for t in fleet["targets"]} == {HOME, OTHER}
    for policy in ran[8:]:
        assert json.loads(policy.stdout)["Version"] == "2012-10-17"
