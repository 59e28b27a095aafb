"""The bad-input campaign for signing (test_bad_input_campaign's lab and
verdict): bad ``--signing-key`` values, a required signature without a key,
and mutated signatures of plans and approvals. Every input ends in a
documented exit, one ``Error:`` line for exit 1, no traceback, no "internal
error", no mutating AWS call, and the secret is never printed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remediator import planfile
from remediator.planfile.approval import write_approval
from remediator.planfile.signing import HmacKey, sign_plan
from tests.reliability import test_bad_input_campaign as campaign

lab = campaign.lab
recorded = campaign.recorded
Lab = campaign.Lab

SECRET = "bad-input-signing-secret-0123456789"
NOW = "2026-01-01T00:00:00Z"


def _key_file(lab: Lab, name: str, content: bytes, mode: int = 0o600) -> Path:
    path = campaign._write(lab, name, content)
    os.chmod(path, mode)
    return path


def _signed(lab: Lab) -> tuple[Path, Path, str]:
    """A signed copy of the lab's fresh plan, a signed approval of it, and the key spec."""
    key = _key_file(lab, "good.key", SECRET.encode())
    signer = HmacKey(SECRET.encode(), "test")
    plan = sign_plan(planfile.read_plan(lab.fresh_plan), signer)
    plan_path = lab.root / "inputs" / "signed.json"
    planfile.write_plan(plan, plan_path)
    approval = lab.root / "inputs" / "signed.approval.json"
    write_approval(
        plan,
        approval,
        by="ana",
        at=NOW,
        signer=signer,
        change_ids=tuple(c.id for c in plan.changes),
    )
    return plan_path, approval, f"file:{key}"


def _spec(lab: Lab, case: str) -> str:
    if case == "world-readable":
        return f"file:{_key_file(lab, 'wr.key', SECRET.encode(), 0o644)}"
    if case == "empty":
        return f"file:{_key_file(lab, 'empty.key', b'')}"
    if case == "short":
        return f"file:{_key_file(lab, 'short.key', b'abc')}"
    if case == "folder":
        return f"file:{lab.root}"
    if case == "binary":
        return f"file:{_key_file(lab, 'bin.key', bytes(range(256)))}"  # any bytes are a secret
    return case


SPECS = [
    "nope:x",
    "file:",
    "file:missing.key",
    "world-readable",
    "empty",
    "short",
    "folder",
    "env:REMEDIATOR_CAMPAIGN_UNSET",
    "env:not a name",
    "kms:alias/does-not-exist",
    "kms:arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    "\x1b[31m",
]


@pytest.mark.parametrize("case", SPECS)
@pytest.mark.parametrize("command", ["plan", "apply", "approve", "rollback"])
def test_bad_signing_keys(recorded: Lab, case: str, command: str) -> None:
    spec = _spec(recorded, case)
    args = {
        "plan": ["plan", "--region", campaign.REGION, "--out", "inputs/k.json"],
        "apply": ["apply", str(recorded.fresh_plan), "--dry-run"],
        "approve": ["approve", str(recorded.fresh_plan), "--by", "ana", "--out", "inputs/a.json"],
        "rollback": ["rollback", str(recorded.journal), "--auto-approve"],
    }[command]
    result = campaign.check(recorded, f"signing-key-{command}", [*args, "--signing-key", spec])
    assert result.exit_code == 1, result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_the_binary_secret_is_a_key(recorded: Lab) -> None:
    spec = _spec(recorded, "binary")
    result = campaign.check(
        recorded,
        "signing-key-binary",
        [
            "approve",
            str(recorded.fresh_plan),
            "--by",
            "ana",
            "--out",
            "inputs/b.json",
            "--signing-key",
            spec,
        ],
    )
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--require-signature"],
        ["--require-signature", "--signing-key", "env:REMEDIATOR_CAMPAIGN_UNSET"],
    ],
)
def test_a_required_signature_without_a_usable_key(recorded: Lab, args: list[str]) -> None:
    result = campaign.check(
        recorded, "require-signature", ["apply", str(recorded.fresh_plan), "--dry-run", *args]
    )
    assert result.exit_code == 1


def _mutated(data: st.DataObject, doc: dict[str, Any]) -> Any:
    return data.draw(campaign._json_mutations(doc["signature"]))


@campaign.CAMPAIGN
@given(data=st.data())
def test_mutated_plan_signatures(recorded: Lab, data: st.DataObject) -> None:
    plan_path, _, spec = _signed(recorded)
    doc = json.loads(plan_path.read_text(encoding="utf-8"))
    doc["signature"] = _mutated(data, doc)
    path = campaign._write(recorded, "mutated-signature.json", json.dumps(doc))
    result = campaign.check(
        recorded,
        "plan-signature",
        ["apply", str(path), "--dry-run", "--signing-key", spec, "--require-signature"],
    )
    assert result.exit_code in (0, 1)
    assert SECRET not in result.stdout + result.stderr


@campaign.CAMPAIGN
@given(data=st.data())
def test_mutated_approval_signatures(recorded: Lab, data: st.DataObject) -> None:
    plan_path, approval, spec = _signed(recorded)
    doc = json.loads(approval.read_text(encoding="utf-8"))
    field = data.draw(st.sampled_from(["signature", "change_ids", "max_risk", "approved_by"]))
    doc[field] = data.draw(campaign._json_mutations(doc[field]))
    path = campaign._write(recorded, "mutated.approval.json", json.dumps(doc))
    result = campaign.check(
        recorded,
        "approval-signature",
        [
            "apply",
            str(plan_path),
            "--dry-run",
            "--approval",
            str(path),
            "--signing-key",
            spec,
            "--require-signature",
        ],
    )
    assert result.exit_code in (0, 1)
