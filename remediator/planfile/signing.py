"""Signed plans and approvals: what a signing key is, HMAC-SHA256, and the checks.

``--signing-key KEY`` names one key everywhere: ``file:PATH`` (an HMAC
secret in a file only its owner may read), ``env:NAME`` (the secret in an
environment variable, for local use) or ``kms:KEY_ID_OR_ARN`` (an AWS KMS
key: ``remediator.aws.kms.KmsKey``, which satisfies ``Signer`` like
``HmacKey`` here). ``plan`` and ``approve`` sign; ``apply``, ``rollback``
and ``auto`` check (``check_signature``).

What is signed is always ``signs``: the ``sha256:`` of a message that opens
with what it is for (a plan's signature can never pass as an approval's).
For a plan the message is its id and digest (the digest covers every field
but ``digest`` and ``signature``); for an approval, every field of the
approval but its signature. A signature over other content is *stale*, one
made with another key is *foreign*, one that does not verify is *forged*:
each is refused before anything changes. Key material is never printed,
logged or put in a repr: a key is shown by its ``key_id`` only (for HMAC, a
hash of the secret that cannot be turned back into it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from remediator.domain.canonical import canonical
from remediator.domain.errors import BadInput, SignatureRefused
from remediator.planfile.model import Plan, Signature

ALG_HMAC = "hmac-sha256"
MIN_SECRET_BYTES = 16
"""An HMAC secret shorter than this is refused: it could be guessed from one
signed plan. ``openssl rand -hex 32`` makes a good one."""

PLAN_CONTEXT = "remediator-plan-signature-v1"
APPROVAL_CONTEXT = "remediator-approval-signature-v1"

_KEY_HINT = "Pass --signing-key file:PATH, env:NAME or kms:KEY_ID_OR_ARN."


class Signer(Protocol):
    """A key that signs and verifies ``signs`` texts (HMAC here, KMS in ``aws.kms``)."""

    @property
    def alg(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, value: bytes) -> bool: ...


class HmacKey:
    """An HMAC-SHA256 secret. ``key_id`` names it without revealing it; the
    secret itself is in no attribute a repr, log line or error shows."""

    __slots__ = ("__secret", "key_id", "source")
    alg = ALG_HMAC

    def __init__(self, secret: bytes, source: str) -> None:
        self.__secret = secret
        self.source = source
        ident = hashlib.sha256(b"remediator-key-id\0" + secret).hexdigest()[:16]
        self.key_id = f"{ALG_HMAC}:{ident}"

    def __repr__(self) -> str:
        return f"HmacKey({self.source}, {self.key_id})"

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self.__secret, message, hashlib.sha256).digest()

    def verify(self, message: bytes, value: bytes) -> bool:
        return hmac.compare_digest(self.sign(message), value)


Scheme = Literal["file", "env", "kms"]


@dataclass(frozen=True)
class KeySpec:
    """A parsed ``--signing-key``: its scheme and what follows the colon."""

    scheme: Scheme
    value: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value}"


def parse_key_spec(spec: str) -> KeySpec:
    scheme, sep, value = spec.partition(":")
    if not sep or not value or scheme not in ("file", "env", "kms"):
        raise BadInput(
            f"--signing-key {shown(spec)!r} is not file:PATH, env:NAME or kms:KEY_ID_OR_ARN.",
            hint=_KEY_HINT,
        )
    return KeySpec(scheme, value)  # type: ignore[arg-type]  # checked just above


def _secret(raw: bytes, where: str) -> bytes:
    """The secret: ``raw`` without one trailing newline (``echo KEY > file``)."""
    secret = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
    if not secret:
        raise BadInput(f"{where} is empty: no signing secret in it.", hint=_MAKE_HINT)
    if len(secret) < MIN_SECRET_BYTES:
        raise BadInput(
            f"{where} holds {len(secret)} byte(s); a signing secret needs at least {MIN_SECRET_BYTES}.",
            hint=_MAKE_HINT,
        )
    return secret


_MAKE_HINT = "Make one with `openssl rand -hex 32 > KEYFILE && chmod 600 KEYFILE`."


def _file_secret(path: Path) -> bytes:
    where = f"Signing key file {path}"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"{where} is not a file.", hint=_MAKE_HINT)
        if info.st_mode & (stat.S_IROTH | stat.S_IWOTH):
            raise BadInput(
                f"{where} can be read or written by every user of the machine (mode {stat.S_IMODE(info.st_mode):04o}).",
                hint=f"Run `chmod 600 {path}` (and rotate the secret if others could read it).",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{where} does not exist.", hint=_MAKE_HINT) from None
    except OSError as exc:
        raise BadInput(
            f"Cannot read {where[0].lower()}{where[1:]}: {exc.strerror or exc}."
        ) from None
    return _secret(raw, where)


def hmac_key(spec: KeySpec, environ: Mapping[str, str] | None = None) -> HmacKey:
    """The HMAC key of a ``file:`` or ``env:`` spec."""
    if spec.scheme == "file":
        return HmacKey(_file_secret(Path(spec.value).expanduser()), str(spec))
    if spec.scheme == "env":
        env = os.environ if environ is None else environ
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec.value):
            raise BadInput(
                f"--signing-key env:{shown(spec.value)} does not name an environment variable."
            )
        value = env.get(spec.value)
        if value is None:
            raise BadInput(
                f"Environment variable {spec.value} (--signing-key) is not set.",
                hint=f"Export the secret as {spec.value}, or use file:PATH.",
            )
        return HmacKey(
            _secret(value.encode("utf-8"), f"Environment variable {spec.value}"), str(spec)
        )
    raise BadInput(f"--signing-key {spec} is not an HMAC secret.", hint=_KEY_HINT)


@dataclass(frozen=True)
class Trust:
    """What apply, rollback and auto hold plans and approvals to: the key that
    checks (and, for what they write, makes) signatures, and whether a valid
    signature is required (``--require-signature`` or the policy's
    ``require_signature``)."""

    signer: Signer | None = None
    required: bool = False

    def __post_init__(self) -> None:
        if self.required and self.signer is None:
            raise BadInput(
                "A signature is required (--require-signature or the policy's require_signature), but no --signing-key was given to check it.",
                hint=_KEY_HINT,
            )


_SAFE = re.compile(r"[^A-Za-z0-9:/_.+=@-]")


def shown(text: str, limit: int = 96) -> str:
    """An untrusted string (from a file) made safe to print: no control or
    markup characters, at most ``limit`` characters."""
    safe = _SAFE.sub("?", text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def signs_of(context: str, body: Mapping[str, object]) -> str:
    """The text a key signs: the sha256 of ``context`` and the canonical body."""
    message = f"{context}\n{canonical(body)}".encode()
    return "sha256:" + hashlib.sha256(message).hexdigest()


def make_signature(signer: Signer, signs: str) -> Signature:
    value = signer.sign(signs.encode("ascii"))
    return Signature(
        alg=signer.alg,
        key_id=signer.key_id,
        signs=signs,
        value=base64.b64encode(value).decode("ascii"),
    )


Checked = Literal["unsigned", "unverified", "verified"]
"""What was known of a file's signature: none (allowed when not required),
one but no key to check it with, or one that verified."""


def check_signature(signature: Signature | None, signs: str, trust: Trust, what: str) -> Checked:
    """Refuse (``SignatureRefused``) a signature that is missing when required,
    stale, foreign or forged; ``what`` names the file in the message."""
    if signature is None:
        if trust.required:
            raise SignatureRefused(
                f"{what} is not signed, and a signature is required.",
                hint="Sign it with --signing-key (remediate plan / approve), or review and plan again.",
            )
        return "unsigned"
    signer = trust.signer
    if signer is None:
        return "unverified"
    if signature.signs != signs:
        raise SignatureRefused(
            f"{what} has a stale signature: it signs {shown(signature.signs, 24)}, not this content ({signs[:19]}…); the file changed after it was signed.",
            hint="Do not apply it; plan (or approve) again and sign the new file.",
        )
    if signature.alg != signer.alg or signature.key_id != signer.key_id:
        raise SignatureRefused(
            f"{what} was signed with key {shown(signature.key_id)} ({shown(signature.alg, 32)}), not with the --signing-key {signer.key_id}.",
            hint="Pass the key that signed it, or plan (or approve) again with this key.",
        )
    try:
        value = base64.b64decode(signature.value, validate=True)
    except (binascii.Error, ValueError):
        value = b""
    if not value or not signer.verify(signs.encode("ascii"), value):
        raise SignatureRefused(
            f"{what}'s signature does not verify with key {signer.key_id}: the file was forged or edited.",
            hint="Do not apply it; plan (or approve) again and sign the new file.",
        )
    return "verified"


def checked(signature: Signature | None, trust: Trust) -> Checked:
    """What ``check_signature`` found, for a signature it has passed."""
    if signature is None:
        return "unsigned"
    return "unverified" if trust.signer is None else "verified"


def plan_signs(plan: Plan) -> str:
    return signs_of(PLAN_CONTEXT, {"plan_id": plan.plan_id, "digest": plan.digest})


def sign_plan(plan: Plan, signer: Signer) -> Plan:
    """``plan`` with its signature (the digest, and so the bytes the digest
    covers, stay as they are)."""
    return plan.model_copy(update={"signature": make_signature(signer, plan_signs(plan))})


def check_plan(plan: Plan, trust: Trust, source: str = "plan") -> Checked:
    return check_signature(plan.signature, plan_signs(plan), trust, f"Plan {source}")
