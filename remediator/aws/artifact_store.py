"""S3 as the place a run's artifacts go (``--out-dir s3://bucket/prefix``).

Each artifact is one object, written with ``PutObject`` and server-side
encryption (``AES256``, SSE-S3, unless a KMS key is named: ``aws:kms``).
Reads are for the event run's duplicate markers only: an object that does
not exist is ``None``; any other failure is the door's one-line error.

The store has its own door in ``apply`` mode: writing an artifact changes
nothing remediator remediates, and a dry run writes its artifacts too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from remediator.aws import session as sessions
from remediator.aws.door import Aws, Settings
from remediator.domain.errors import AwsCallFailed, BadInput

PERMISSIONS: tuple[str, ...] = ("s3:PutObject", "s3:GetObject")
"""What the artifact sink needs on ``arn:aws:s3:::bucket/prefix/*`` (and
``kms:GenerateDataKey`` on the key when one is named)."""

_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?")
NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without a trailing slash)."""
    match = _URL.fullmatch(url.strip())
    if match is None:
        raise BadInput(
            f"{url!r} is not an S3 URL.", hint="Pass --out-dir s3://bucket/prefix or a folder."
        )
    prefix = (match.group("prefix") or "").strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise BadInput(f"{url!r}: the prefix has an empty, '.' or '..' part.")
    return match.group("bucket"), prefix


@dataclass
class S3Store:
    """Objects under ``s3://bucket/prefix/``."""

    aws: Aws
    bucket: str
    prefix: str
    region: str
    kms_key_id: str | None = None

    @classmethod
    def open(
        cls,
        session: Any,
        url: str,
        region: str,
        *,
        endpoint_url: str | None = None,
        kms_key_id: str | None = None,
        settings: Settings | None = None,
    ) -> S3Store:
        bucket, prefix = parse_url(url)
        factory = sessions.client_factory(session, endpoint_url=endpoint_url, config="write")
        return cls(Aws(factory, settings, mode="apply"), bucket, prefix, region, kms_key_id)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    @property
    def leaf(self) -> str:
        """The last segment of the prefix (a run's folder name), "" at the bucket's root."""
        return self.prefix.rsplit("/", 1)[-1]

    def parent(self) -> S3Store | None:
        """The store of the prefix one segment up (where a run's siblings
        are), None at the bucket's root."""
        if not self.prefix:
            return None
        up = self.prefix.rsplit("/", 1)[0] if "/" in self.prefix else ""
        return S3Store(self.aws, self.bucket, up, self.region, self.kms_key_id)

    def child(self, relative: str) -> S3Store:
        """The store of ``prefix/relative``."""
        return S3Store(
            self.aws, self.bucket, self.key(relative.strip("/")), self.region, self.kms_key_id
        )

    def put(self, relative: str, body: bytes, content_type: str = "application/json") -> str:
        """Write one object; returns its key."""
        key = self.key(relative)
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "ServerSideEncryption": "aws:kms" if self.kms_key_id else "AES256",
        }
        if self.kms_key_id:
            params["SSEKMSKeyId"] = self.kms_key_id
        self.aws.call("s3", self.region, "put_object", **params)
        return key

    def get(self, relative: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        try:
            response = self.aws.call(
                "s3", self.region, "get_object", Bucket=self.bucket, Key=self.key(relative)
            )
        except AwsCallFailed as exc:
            if exc.code in NOT_FOUND or exc.status == 404:
                return None
            raise
        return bytes(response["Body"].read())
