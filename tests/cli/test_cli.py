"""The command line, one test per exit path: 0 success / no changes, 1 error
(bad input, AWS refused or unreachable, usage), 2 changes present with
``--detailed-exitcode``. Errors are one ``Error:`` line on stderr, never a
traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner, Result

from remediator import sandbox
from remediator.aws import discover
from remediator.cli.main import app

REGION = "us-east-1"


class Sandbox(Protocol):
    """What the ``seeded_server`` fixture (tests/cli/conftest.py) gives."""

    url: str
    seed: sandbox.SeedInfo


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stray default `plans/` folder lands in the test's temporary folder."""
    monkeypatch.chdir(tmp_path)


def _run(args: Sequence[str], **kwargs: Any) -> Result:
    return CliRunner().invoke(app, list(args), **kwargs)


def _error_line(result: Result) -> str:
    """The one `Error:` line on stderr (log lines may precede it)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _assert_clean_failure(result: Result, *expected: str) -> str:
    """Exit 1, nothing on stdout, no traceback, a one-line error naming ``expected``."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    line = _error_line(result)
    for text in expected:
        assert text in line, line
    return line


def _plan_args(sb: Sandbox, out: Path, *extra: str) -> list[str]:
    return ["plan", "--endpoint-url", sb.url, "--region", REGION, "--out", str(out), *extra]


# --------------------------------------------------------------------------
# demo, show, schema


@pytest.fixture(scope="module")
def demo_plan(
    tmp_path_factory: pytest.TempPathFactory, _empty_aws_files: tuple[Path, Path]
) -> Iterator[tuple[Result, Path]]:
    """`remediate demo --out FILE` once for the module (it only writes FILE)."""
    path = tmp_path_factory.mktemp("demo") / "p.json"
    config, credentials = _empty_aws_files
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_CONFIG_FILE", str(config))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        result = _run(["demo", "--out", str(path)])
        yield result, path


def test_demo_prints_the_seed_case_and_writes_a_plan(demo_plan: tuple[Result, Path]) -> None:
    result, path = demo_plan
    assert result.exit_code == 0, result.stderr
    assert "orders-api" in result.stdout
    assert "public-subnets-mixed" in result.stdout
    assert f"Plan written to {path}" in result.stderr
    assert "Plan written" not in result.stdout
    assert path.is_file()
    assert path.stat().st_mode & 0o777 == 0o600


def test_show_renders_the_demo_plan(demo_plan: tuple[Result, Path]) -> None:
    _, path = demo_plan
    text = _run(["show", str(path)])
    assert text.exit_code == 0, text.stderr
    assert "orders-api" in text.stdout
    assert "public-subnets-mixed" in text.stdout

    as_json = _run(["show", str(path), "--format", "json"])
    assert as_json.exit_code == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["format_version"] == 1
    assert data == json.loads(path.read_text())


def test_demo_markdown_has_a_mermaid_diagram(tmp_path: Path) -> None:
    result = _run(["demo", "--format", "markdown", "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.stderr
    assert "```mermaid" in result.stdout


def test_schema_prints_the_json_schema() -> None:
    result = _run(["schema"])
    assert result.exit_code == 0, result.stderr
    schema = json.loads(result.stdout)
    assert "$schema" in schema
    assert "format_version" in schema["properties"]


def test_python_dash_m_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "remediator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "plan" in done.stdout and "show" in done.stdout


COMMANDS = [
    "plan",
    "show",
    "demo",
    "sandbox",
    "apply",
    "approve",
    "rollback",
    "unlock",
    "schema",
    "auto",
    "event",
    "iam-policy",
    "iac-patch",
    "deploy-template",
]


def test_the_console_script_runs_the_app_with_every_command_in_order() -> None:
    import importlib
    import tomllib

    import typer.main

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    module, _, func = project["project"]["scripts"]["remediate"].partition(":")
    entry = importlib.import_module(module)
    assert callable(getattr(entry, func))
    group = typer.main.get_group(entry.app)
    assert list(group.list_commands(None)) == COMMANDS  # type: ignore[arg-type]
    assert entry.app is app


def test_help_lists_every_command_in_order() -> None:
    result = _run(["--help"])
    assert result.exit_code == 0, result.stderr
    listed = [
        line.split()[0]
        for line in result.stdout.split("Commands:", 1)[1].splitlines()
        if line.startswith("  ") and not line.startswith("   ")
    ]
    assert listed == COMMANDS


@pytest.mark.parametrize(
    "args",
    [
        ["approve", "missing.json", "--by", "Ana", "--max-risk", "extreme"],
        ["auto", "--max-risk", "extreme", "--out-dir", "run"],
    ],
)
def test_every_max_risk_is_refused_with_the_same_line(args: list[str]) -> None:
    # apply's own case is in test_apply_cli (it reads the plan first)
    result = _run(args)
    assert result.exit_code == 1
    assert _error_line(result) == "Error: --max-risk 'extreme' is not low, medium or high."


def test_apply_refuses_a_plan_for_an_account_the_policy_does_not_allow(
    demo_plan: tuple[Result, Path], tmp_path: Path
) -> None:
    _, path = demo_plan
    policy = tmp_path / "policy.toml"
    policy.write_text('allowed_account_ids = ["999999999999"]\n')
    result = _run(
        ["apply", str(path), "--policy", str(policy), "--endpoint-url", "http://x.invalid"]
    )
    line = _assert_clean_failure(result, "123456789012", "allowed_account_ids", "999999999999")
    assert line.startswith("Error: Account 123456789012 is not in the policy's allowed_account_ids")


# --------------------------------------------------------------------------
# plan against a moto server


def test_plan_writes_the_plan_and_exits_0(seeded_server: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = _run(_plan_args(seeded_server, out))
    assert result.exit_code == 0, result.stderr
    assert "orders-api" in result.stdout
    assert "public-subnets-mixed" in result.stdout
    plan = json.loads(out.read_text())
    assert plan["account_id"] == "123456789012"
    assert plan["regions"] == [REGION]
    assert plan["changes"], "the sandbox has changes to plan"
    assert seeded_server.seed.subnets["public-a"] in {
        s for f in plan["findings"] if f["function"] == "orders-api" for s in f["subnet_ids"]
    }


def test_plan_detailed_exitcode_is_2_with_changes(seeded_server: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = _run(_plan_args(seeded_server, out, "--detailed-exitcode", "--format", "json"))
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.output
    # --format json: stdout is the plan and nothing else.
    assert json.loads(result.stdout) == json.loads(out.read_text())
    assert json.loads(out.read_text())["changes"]


def test_plan_detailed_exitcode_is_0_for_a_healthy_function(
    seeded_server: Sandbox, tmp_path: Path
) -> None:
    out = tmp_path / "p.json"
    result = _run(
        _plan_args(seeded_server, out, "--function", "orders-fulfil", "--detailed-exitcode")
    )
    assert result.exit_code == 0, result.stderr
    plan = json.loads(out.read_text())
    assert plan["changes"] == []
    assert plan["summary"]["changes"] == 0
    assert [(f["name"], f["status"]) for f in plan["functions"]] == [("orders-fulfil", "healthy")]


def test_plan_unknown_function_is_an_error(seeded_server: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = _run(_plan_args(seeded_server, out, "--function", "no-such-fn", "--detailed-exitcode"))
    _assert_clean_failure(result, "no-such-fn")
    assert not out.exists()


def test_plan_honours_aws_endpoint_url(
    seeded_server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", seeded_server.url)
    out = tmp_path / "p.json"
    result = _run(["plan", "--region", REGION, "--out", str(out), "--detailed-exitcode"])
    assert result.exit_code == 2, result.stderr
    assert json.loads(out.read_text())["account_id"] == "123456789012"


def test_plan_access_denied_names_the_iam_action(
    seeded_server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deny(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "UnauthorizedOperation",
                    "Message": "You are not authorized to perform this operation.",
                }
            },
            "DescribeRouteTables",
        )

    original = discover.make_session

    def make_session(profile: str | None = None) -> Any:
        session = original(profile)
        session.events.register("before-call.ec2.DescribeRouteTables", deny)
        return session

    monkeypatch.setattr(discover, "make_session", make_session)
    out = tmp_path / "p.json"
    result = _run(_plan_args(seeded_server, out))
    _assert_clean_failure(result, "ec2:DescribeRouteTables", "Access denied")
    assert not out.exists()


def test_plan_refuses_an_account_the_policy_does_not_allow(
    seeded_server: Sandbox, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('allowed_account_ids = ["999999999999"]\n')
    out = tmp_path / "p.json"
    result = _run(_plan_args(seeded_server, out, "--policy", str(policy)))
    _assert_clean_failure(result, "123456789012", "999999999999")
    assert not out.exists()


def test_plan_reads_nothing_from_an_account_the_policy_does_not_allow(
    seeded_server: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def record(model: Any = None, **_: Any) -> None:
        calls.append(f"{model.service_model.service_name}:{model.name}")

    original = discover.make_session

    def make_session(profile: str | None = None) -> Any:
        session = original(profile)
        session.events.register("before-call", record)
        return session

    monkeypatch.setattr(discover, "make_session", make_session)
    policy = tmp_path / "policy.toml"
    policy.write_text('allowed_account_ids = ["999999999999"]\n')
    result = _run(_plan_args(seeded_server, tmp_path / "p.json", "--policy", str(policy)))
    assert result.exit_code == 1
    assert calls == ["sts:GetCallerIdentity"]


# --------------------------------------------------------------------------
# bad input, no credentials, unreachable endpoint


def test_missing_policy_file(tmp_path: Path) -> None:
    result = _run(["plan", "--region", REGION, "--policy", str(tmp_path / "missing.toml")])
    _assert_clean_failure(result, "does not exist", "missing.toml")


def test_invalid_toml_policy(tmp_path: Path) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text("[defaults\nmin_azs = \n")
    result = _run(["plan", "--region", REGION, "--policy", str(policy)])
    _assert_clean_failure(result, "not valid TOML")


def test_policy_with_an_unknown_key(tmp_path: Path) -> None:
    policy = tmp_path / "unknown.toml"
    policy.write_text("[defaults]\nmin_azs = 2\nfrobnicate = true\n")
    result = _run(["plan", "--region", REGION, "--policy", str(policy)])
    _assert_clean_failure(result, "frobnicate", "unknown key")


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    started = time.monotonic()
    result = _run(["plan", "--region", REGION, "--out", str(tmp_path / "p.json")])
    _assert_clean_failure(result, "No AWS credentials")
    assert time.monotonic() - started < 10


def test_unreachable_endpoint_fails_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    result = _run(
        [
            "plan",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            REGION,
            "--out",
            str(tmp_path / "p.json"),
        ]
    )
    elapsed = time.monotonic() - started
    _assert_clean_failure(result, "cannot be reached", "127.0.0.1:9")
    assert elapsed < 5, elapsed


def test_show_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    _assert_clean_failure(_run(["show", str(path)]), "not a plan file")


def test_show_json_without_format_version(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"changes": [], "hello": "world"}))
    _assert_clean_failure(_run(["show", str(path)]), "not a plan file", "format_version")


def test_show_refuses_a_hand_edited_plan(demo_plan: tuple[Result, Path], tmp_path: Path) -> None:
    _, original = demo_plan
    data = json.loads(original.read_text())
    data["changes"][0]["reason"] = "trust me"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    _assert_clean_failure(_run(["show", str(edited)]), "digest")


def test_show_refuses_an_unknown_format_version(
    demo_plan: tuple[Result, Path], tmp_path: Path
) -> None:
    _, original = demo_plan
    data = json.loads(original.read_text())
    data["format_version"] = 99
    future = tmp_path / "future.json"
    future.write_text(json.dumps(data))
    _assert_clean_failure(_run(["show", str(future)]), "format_version 99")


def test_show_a_missing_file(tmp_path: Path) -> None:
    _assert_clean_failure(_run(["show", str(tmp_path / "nope.json")]), "does not exist")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["plan", "--no-such-option"], id="unknown-option"),
        pytest.param(["show", "p.json", "--format", "yaml"], id="bad-choice"),
        pytest.param(["show"], id="missing-argument"),
    ],
)
def test_usage_errors_exit_1_not_2(args: list[str]) -> None:
    result = _run(args)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.exit_code == 1, (result.exit_code, result.stderr)


def test_usage_error_names_the_option() -> None:
    result = _run(["plan", "--no-such-option"])
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert "--no-such-option" in result.stderr


def test_usage_error_exits_1_from_the_real_entry_point() -> None:
    """Through `python -m remediator` (not CliRunner): 2 stays "changes present"."""
    done = subprocess.run(
        [sys.executable, "-m", "remediator", "plan", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("tty", "env", "coloured"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"TERM": "dumb"}, False),
    ],
)
def test_text_report_is_coloured_only_for_a_terminal(
    monkeypatch: pytest.MonkeyPatch, tty: bool, env: dict[str, str], coloured: bool
) -> None:
    from remediator.cli import app as cli
    from tests.unit.test_report import _seed_case_plan

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    text = cli._render(_seed_case_plan(), cli.Format.text)
    assert ("\x1b[" in text) is coloured
    assert "\x1b[" not in cli._render(_seed_case_plan(), cli.Format.markdown)


def test_version_prints_the_package_version_and_exits_0() -> None:
    from remediator import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"remediate {__version__}"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({"AWS_REGION": "eu-west-1"}, "eu-west-1", id="aws-region-alone"),
        pytest.param(
            {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"},
            "eu-west-1",
            id="aws-region-wins",
        ),
        pytest.param({"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2", id="default-region"),
        pytest.param({}, None, id="none"),
    ],
)
def test_the_region_comes_from_aws_region_first_as_the_lambda_runtime_sets_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], expected: str | None
) -> None:
    from remediator.aws.session import make_session

    empty = tmp_path / "aws-empty"
    empty.touch()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert make_session().region_name == expected
