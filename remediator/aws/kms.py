"""A signing key in AWS KMS (``--signing-key kms:KEY_ID_OR_ARN``).

The key's ``KeySpec`` (``DescribeKey``, once) decides how it signs: an HMAC
key (``HMAC_256``, usage ``GENERATE_VERIFY_MAC``) takes ``GenerateMac`` /
``VerifyMac`` with ``HMAC_SHA_256``; an asymmetric key with usage
``SIGN_VERIFY`` (``ECC_NIST_P256``, ``RSA_2048``…) takes ``Sign`` /
``Verify`` with the first algorithm it offers of ``ECDSA_SHA_256``,
``RSASSA_PSS_SHA_256``, ``RSASSA_PKCS1_V1_5_SHA_256`` (else its first).
Anything else is refused with one line. The message is always a short
``sha256:…`` text (``planfile.signing``), far under KMS's 4,096 bytes.

Calls go through the door like every AWS call (its retries, its error
translation). The door is one of its own in ``apply`` mode: KMS's MAC and
signature calls change nothing in the account, so a dry-run apply still
verifies. The IAM actions are ``kms:DescribeKey`` and ``kms:GenerateMac`` +
``kms:VerifyMac`` (HMAC) or ``kms:Sign`` + ``kms:Verify`` (asymmetric).
"""

from __future__ import annotations

from typing import Any

from remediator.aws import door
from remediator.aws.session import client_factory as session_factory
from remediator.domain.errors import AwsCallFailed, BadInput

MAC_ALGORITHM = "HMAC_SHA_256"
SIGNING_PREFERENCE = ("ECDSA_SHA_256", "RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256")
# The IAM actions each role needs on the key (``remediate iam-policy`` can
# read them from here): who signs (the plan job, the approver, ``auto``) and
# who verifies (the approver, apply, rollback, ``auto``).
SIGN_ACTIONS: dict[str, tuple[str, ...]] = {
    "hmac": ("kms:DescribeKey", "kms:GenerateMac"),
    "asymmetric": ("kms:DescribeKey", "kms:Sign"),
}
VERIFY_ACTIONS: dict[str, tuple[str, ...]] = {
    "hmac": ("kms:DescribeKey", "kms:VerifyMac"),
    "asymmetric": ("kms:DescribeKey", "kms:Verify"),
}
INVALID_CODES = frozenset({"KMSInvalidMacException", "KMSInvalidSignatureException"})


def key_region(key: str, default: str) -> str:
    """The region of a key ARN (``arn:aws:kms:REGION:ACCOUNT:key/…``), else ``default``."""
    parts = key.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "kms" and parts[3]:
        return parts[3]
    return default


class KmsKey:
    """A KMS key as a ``planfile.signing.Signer``: ``alg`` and ``key_id``
    (the key's ARN, whatever alias or id named it) are read once."""

    def __init__(self, aws: door.Aws, key: str, region: str) -> None:
        self._aws = aws
        self._region = key_region(key, region)
        meta = aws.call("kms", self._region, "describe_key", KeyId=key)["KeyMetadata"]
        self.key_id: str = meta.get("Arn") or meta["KeyId"]
        self._key = self.key_id
        spec, usage = meta.get("KeySpec", ""), meta.get("KeyUsage", "")
        if meta.get("KeyState", "Enabled") != "Enabled":
            raise BadInput(
                f"KMS key {self.key_id} is {meta.get('KeyState')}: it cannot sign.",
                hint="Enable the key, or pass another --signing-key.",
            )
        self._algorithm: str | None = None
        if spec.startswith("HMAC_") and usage == "GENERATE_VERIFY_MAC":
            if spec != "HMAC_256":
                raise BadInput(
                    f"KMS key {self.key_id} is {spec}; remediator signs with HMAC_256 keys (HMAC_SHA_256).",
                    hint="Create one: aws kms create-key --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC.",
                )
            self.alg = "kms-hmac-sha256"
        elif usage == "SIGN_VERIFY":
            offered = list(meta.get("SigningAlgorithms") or [])
            if not offered:
                raise BadInput(f"KMS key {self.key_id} offers no signing algorithm.")
            self._algorithm = next((a for a in SIGNING_PREFERENCE if a in offered), offered[0])
            self.alg = f"kms-{self._algorithm}"
        else:
            raise BadInput(
                f"KMS key {self.key_id} ({spec or '?'}, usage {usage or '?'}) can neither make MACs nor sign.",
                hint="Use an HMAC_256 key (GENERATE_VERIFY_MAC) or an asymmetric SIGN_VERIFY key.",
            )

    def __repr__(self) -> str:
        return f"KmsKey({self.key_id}, {self.alg})"

    def sign(self, message: bytes) -> bytes:
        if self._algorithm is None:
            out = self._call("generate_mac", Message=message, MacAlgorithm=MAC_ALGORITHM)
            return bytes(out["Mac"])
        out = self._call(
            "sign", Message=message, MessageType="RAW", SigningAlgorithm=self._algorithm
        )
        return bytes(out["Signature"])

    def verify(self, message: bytes, value: bytes) -> bool:
        try:
            if self._algorithm is None:
                out = self._call(
                    "verify_mac", Message=message, MacAlgorithm=MAC_ALGORITHM, Mac=value
                )
                return bool(out.get("MacValid"))
            out = self._call(
                "verify",
                Message=message,
                MessageType="RAW",
                Signature=value,
                SigningAlgorithm=self._algorithm,
            )
            return bool(out.get("SignatureValid"))
        except AwsCallFailed as exc:
            if exc.code in INVALID_CODES:
                return False
            raise

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        return self._aws.call("kms", self._region, operation, KeyId=self._key, **params)


def kms_key(session: Any, key: str, region: str | None, endpoint_url: str | None = None) -> KmsKey:
    """The KMS key ``key`` through a door of its own on ``session`` (its
    region when ``key`` is not an ARN: ``region``, else the session's)."""
    aws = door.Aws(session_factory(session, endpoint_url=endpoint_url), mode="apply")
    return KmsKey(aws, key, region or getattr(session, "region_name", None) or "us-east-1")
