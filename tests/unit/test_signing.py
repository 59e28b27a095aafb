"""Signed plans and approvals (``planfile.signing``, ``planfile.approval``):
HMAC keys from files and variables, and the refusal of a missing (when
required), stale, foreign or forged signature."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from remediator import planfile
from remediator.domain.errors import ApprovalRefused, BadInput, SignatureRefused
from remediator.planfile import signing
from remediator.planfile.approval import read_approval, write_approval
from remediator.planfile.digest import with_digest
from remediator.planfile.model import Plan, PlanSummary
from remediator.planfile.signing import HmacKey, Trust, check_plan, sign_plan
from tests import factories as fx

NOW = "2026-01-01T00:00:00Z"
SECRET = b"s3cret-s3cret-s3cret-0123456789ab"
OTHER = b"another-secret-another-secret-xy"


def _plan(**update: object) -> Plan:
    from remediator.planner import build_plan

    world = fx.vpc_world("a", "ab", private=True)
    fn = fx.function(
        "api", [fx.pub("a", "a"), fx.natsub("a", "b")], [fx.fn_sg("a")]
    )  # mixed: one change
    plan = build_plan(fx.inventory(fx.add(world, fn)), fx.policy(), NOW)
    assert plan.changes
    return with_digest(plan.model_copy(update=update)) if update else plan


def key(secret: bytes = SECRET) -> HmacKey:
    return HmacKey(secret, "test")


# ---------------------------------------------------------------- keys


def test_an_hmac_key_signs_verifies_and_never_shows_its_secret() -> None:
    k = key()
    mac = k.sign(b"message")
    assert k.verify(b"message", mac)
    assert not k.verify(b"messagE", mac)
    assert not key(OTHER).verify(b"message", mac)
    assert k.key_id == key().key_id != key(OTHER).key_id
    for shown in (repr(k), k.key_id, str(vars(type(k)))):
        assert SECRET.decode() not in shown


@pytest.mark.parametrize(
    "spec",
    ["", "file", "file:", "nope:x", "hmac:abc", "kms:", ":x", "FILE:x"],
)
def test_a_bad_key_spec_is_bad_input(spec: str) -> None:
    with pytest.raises(BadInput, match="--signing-key"):
        signing.parse_key_spec(spec)


@pytest.mark.parametrize(
    ("spec", "scheme", "value"),
    [
        ("file:/k", "file", "/k"),
        ("env:REMEDIATOR_KEY", "env", "REMEDIATOR_KEY"),
        ("kms:alias/remediator", "kms", "alias/remediator"),
        (
            "kms:arn:aws:kms:us-east-1:123456789012:key/1",
            "kms",
            "arn:aws:kms:us-east-1:123456789012:key/1",
        ),
    ],
)
def test_key_specs_parse(spec: str, scheme: str, value: str) -> None:
    parsed = signing.parse_key_spec(spec)
    assert (parsed.scheme, parsed.value, str(parsed)) == (scheme, value, spec)


def _key_file(tmp_path: Path, content: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "key"
    path.write_bytes(content)
    os.chmod(path, mode)
    return path


def test_a_file_key_and_an_env_key_with_the_same_secret_are_the_same_key(
    tmp_path: Path,
) -> None:
    path = _key_file(tmp_path, SECRET + b"\n")  # `echo SECRET > key`
    from_file = signing.hmac_key(signing.parse_key_spec(f"file:{path}"))
    from_env = signing.hmac_key(signing.parse_key_spec("env:K"), environ={"K": SECRET.decode()})
    assert from_file.key_id == from_env.key_id == key().key_id
    assert from_file.verify(b"m", from_env.sign(b"m"))


@pytest.mark.parametrize(
    ("content", "mode", "match"),
    [
        (SECRET, 0o604, "every user"),
        (SECRET, 0o606, "every user"),
        (SECRET, 0o602, "every user"),
        (b"", 0o600, "empty"),
        (b"\n", 0o600, "empty"),
        (b"short\n", 0o600, "at least 16"),
    ],
)
def test_a_world_readable_empty_or_short_secret_file_is_refused(
    tmp_path: Path, content: bytes, mode: int, match: str
) -> None:
    path = _key_file(tmp_path, content, mode)
    with pytest.raises(BadInput, match=match) as err:
        signing.hmac_key(signing.parse_key_spec(f"file:{path}"))
    assert "\n" not in str(err.value)
    assert SECRET.decode() not in str(err.value)


def test_a_missing_key_file_a_folder_and_an_unset_variable_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        signing.hmac_key(signing.parse_key_spec(f"file:{tmp_path / 'nope'}"))
    with pytest.raises(BadInput, match="not a file"):
        signing.hmac_key(signing.parse_key_spec(f"file:{tmp_path}"))
    with pytest.raises(BadInput, match="is not set"):
        signing.hmac_key(signing.parse_key_spec("env:NOPE_NOT_SET"), environ={})
    with pytest.raises(BadInput, match="empty"):
        signing.hmac_key(signing.parse_key_spec("env:E"), environ={"E": ""})
    with pytest.raises(BadInput, match="environment variable"):
        signing.hmac_key(signing.parse_key_spec("env:1-bad"), environ={})


def test_required_without_a_key_is_bad_input() -> None:
    with pytest.raises(BadInput, match="no --signing-key"):
        Trust(required=True)


# ---------------------------------------------------------------- plans


def test_signing_keeps_the_digest_and_unsigned_files_keep_their_bytes(tmp_path: Path) -> None:
    plan = _plan()
    unsigned = planfile.dumps(plan)
    assert '"signature"' not in unsigned
    signed = sign_plan(plan, key())
    assert signed.digest == plan.digest == planfile.digest.plan_digest(signed)
    path = tmp_path / "p.json"
    planfile.write_plan(signed, path)
    back = planfile.read_plan(path)
    assert back == signed and back.signature is not None
    assert back.signature.key_id == key().key_id
    assert check_plan(back, Trust(key(), required=True)) == "verified"
    # the file is the unsigned file plus the signature member
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("signature")
    assert json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == unsigned


def _lowered(plan: Plan) -> Plan:
    """The plan with a change's risk lowered and the digest recomputed (the
    signature kept): a forgery a plain digest cannot tell."""
    change = plan.changes[0]
    edited = change.model_copy(update={"risk": "low" if change.risk != "low" else "high"})
    return with_digest(plan.model_copy(update={"changes": (edited, *plan.changes[1:])}))


def test_check_plan_outcomes() -> None:
    plan = _plan()
    signed = sign_plan(plan, key())
    assert check_plan(plan, Trust()) == "unsigned"
    assert check_plan(plan, Trust(key())) == "unsigned"
    assert check_plan(signed, Trust()) == "unverified"
    assert check_plan(signed, Trust(key())) == "verified"
    assert check_plan(signed, Trust(key(), required=True)) == "verified"


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("unsigned", "not signed"),
        ("forged-digest", "stale signature"),
        ("wrong-key", "was signed with key"),
        ("forged-value", "does not verify"),
        ("not-base64", "does not verify"),
        ("approval-signature", "stale signature"),
    ],
)
def test_check_plan_refuses(case: str, match: str) -> None:
    plan = _plan()
    signed = sign_plan(plan, key())
    assert signed.signature is not None
    forged = {
        "unsigned": plan,
        "forged-digest": _lowered(signed),
        "wrong-key": sign_plan(plan, key(OTHER)),
        "forged-value": signed.model_copy(
            update={
                "signature": signed.signature.model_copy(
                    update={
                        "value": signing.make_signature(key(OTHER), signed.signature.signs).value
                    }
                )
            }
        ),
        "not-base64": signed.model_copy(
            update={"signature": signed.signature.model_copy(update={"value": "%%%"})}
        ),
        "approval-signature": signed.model_copy(
            update={
                "signature": signing.make_signature(
                    key(),
                    signing.signs_of(
                        signing.APPROVAL_CONTEXT, {"plan_id": plan.plan_id, "digest": plan.digest}
                    ),
                )
            }
        ),
    }[case]
    assert forged.digest == planfile.digest.plan_digest(forged)  # the digest alone is fine
    with pytest.raises(SignatureRefused, match=match) as err:
        check_plan(forged, Trust(key(), required=True), "p.json")
    assert isinstance(err.value, ApprovalRefused) and err.value.exit_code == 1
    assert "\n" not in str(err.value)
    assert SECRET.decode() not in str(err.value)


def test_a_bad_signature_is_refused_even_when_none_is_required() -> None:
    with pytest.raises(SignatureRefused):
        check_plan(_lowered(sign_plan(_plan(), key())), Trust(key()))


def test_an_untrusted_key_id_is_shown_inert() -> None:
    plan = sign_plan(_plan(), key())
    assert plan.signature is not None
    hostile = plan.model_copy(
        update={"signature": plan.signature.model_copy(update={"key_id": "\x1b[31mevil\nkey"})}
    )
    with pytest.raises(SignatureRefused) as err:
        check_plan(hostile, Trust(key()))
    assert "\x1b" not in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- approvals


def test_a_signed_approval_round_trips_and_names_its_changes(tmp_path: Path) -> None:
    plan = _plan()
    path = tmp_path / "a.json"
    ids = tuple(c.id for c in plan.changes)
    written = write_approval(
        plan, path, by="Ana", at=NOW, max_risk="high", signer=key(), change_ids=ids
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert written.change_ids == tuple(sorted(ids)) and written.signature is not None
    read = read_approval(path, plan, Trust(key(), required=True))
    assert read == written
    assert all(read.approves(i) for i in ids) and not read.approves("c-other")


def _edit(path: Path, **fields: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(fields)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"max_risk": "high"}, "stale signature"),
        ({"approved_by": "mallory"}, "stale signature"),
        ({"approved_at": "2030-01-01T00:00:00Z"}, "stale signature"),
        ({"change_ids": ["c-0000000000"]}, "stale signature"),
        ({"signature": None}, "not signed"),
    ],
)
def test_an_edited_signed_approval_is_refused(
    tmp_path: Path, edit: dict[str, object], match: str
) -> None:
    plan = _plan()
    path = tmp_path / "a.json"
    write_approval(plan, path, by="Ana", at=NOW, max_risk="low", signer=key(), change_ids=())
    _edit(path, **edit)
    with pytest.raises(SignatureRefused, match=match):
        read_approval(path, plan, Trust(key(), required=True))


def test_a_hand_written_approval_is_refused_when_a_signature_is_required(tmp_path: Path) -> None:
    plan = _plan()
    path = tmp_path / "a.json"
    path.write_text(
        json.dumps(
            {
                "kind": "remediator-approval",
                "plan_id": plan.plan_id,
                "plan_digest": plan.digest,
                "approved_by": "nobody",
                "approved_at": NOW,
                "max_risk": "high",
            }
        ),
        encoding="utf-8",
    )
    assert read_approval(path, plan).approved_by == "nobody"  # accepted when not required
    with pytest.raises(SignatureRefused, match="not signed"):
        read_approval(path, plan, Trust(key(), required=True))
    # signed by another key
    write_approval(plan, path, by="Ana", at=NOW, signer=key(OTHER), change_ids=())
    with pytest.raises(SignatureRefused, match="signed with key"):
        read_approval(path, plan, Trust(key(), required=True))


def test_an_approval_naming_a_change_the_plan_lacks_is_refused(tmp_path: Path) -> None:
    plan = _plan()
    path = tmp_path / "a.json"
    write_approval(plan, path, by="Ana", at=NOW, signer=key(), change_ids=("c-0000000000",))
    with pytest.raises(ApprovalRefused, match="does not have"):
        read_approval(path, plan, Trust(key()))


def test_a_plan_signature_does_not_pass_for_another_plan() -> None:
    plan = _plan()
    other = _plan(created_at="2026-02-02T00:00:00Z")
    assert other.digest != plan.digest
    signed = sign_plan(plan, key())
    moved = other.model_copy(update={"signature": signed.signature})
    with pytest.raises(SignatureRefused, match="stale"):
        check_plan(moved, Trust(key()))


def test_plan_summary_is_untouched_by_signing() -> None:
    plan = _plan()
    assert sign_plan(plan, key()).summary == plan.summary != PlanSummary()
