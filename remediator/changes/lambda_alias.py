"""``lambda.publish-and-move-alias``: publish ``$LATEST`` (with its fixed
subnets) as a new version and point an alias at it.

Plan side: the fingerprint hashes the version the alias points at
(``alias_state``) and carries the alias's ``RevisionId``; ``before`` is that
version. Undo points the alias back and deletes the version the change
published (only one it created: ``PublishVersion`` returns an existing
version when ``$LATEST`` has not changed since it was published).

No VpcConfig is sent: the published version takes ``$LATEST``'s whole
configuration, ``Ipv6AllowedForDualStack`` included (kept by
``lambda.update-vpc-config`` when it moved the subnets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from remediator.changes.base import Handler, Kind, Live, Results
from remediator.domain.door import Door
from remediator.domain.errors import AwsCallFailed
from remediator.domain.plan import ChangeBase, KindValues

NAME = "lambda.publish-and-move-alias"


class MoveAliasBefore(KindValues):
    FunctionVersion: str


class MoveAliasAfter(KindValues):
    FunctionVersion: Literal["$NEW"]
    PublishFrom: Literal["$LATEST"]
    CodeSha256: str
    """The code the plan saw in ``$LATEST``: a publish of other code is refused."""


class MoveAliasChange(ChangeBase):
    """$LATEST published as a new version and an alias moved to it; undo moves the alias back to ``before`` and deletes that version."""

    kind: Literal["lambda.publish-and-move-alias"]
    before: MoveAliasBefore
    after: MoveAliasAfter


def alias_state(alias_arn: str, function_version: str | None) -> dict[str, Any]:
    """The relevant state of an alias for its fingerprint."""
    return {"AliasArn": alias_arn, "FunctionVersion": function_version}


def restore(change: MoveAliasChange, state: Mapping[str, Any]) -> MoveAliasBefore:
    return MoveAliasBefore(FunctionVersion=state["FunctionVersion"])


def _alias_parts(target: str) -> tuple[str, str]:
    function_arn, _, alias = target.rpartition(":")
    return function_arn, alias


def _function_name(function_arn: str) -> str:
    # the function's name, not its ARN: same answer on AWS, and the sandbox
    # (moto) lists nothing for an ARN
    return function_arn.split(":")[6] if function_arn.count(":") >= 6 else function_arn


def _mark(change: MoveAliasChange) -> str:
    """The description of the version the change publishes: which change made it."""
    return f"remediator {change.id}"


class MoveAlias(Handler[MoveAliasChange]):
    kind = NAME

    def read(self, aws: Door, change: MoveAliasChange, results: Results) -> Live:
        function_arn, alias = _alias_parts(change.target)
        out = aws.call("lambda", change.region, "get_alias", FunctionName=function_arn, Name=alias)
        return Live(alias_state(change.target, out.get("FunctionVersion")), out.get("RevisionId"))

    def check(self, aws: Door, change: MoveAliasChange, live: Live, results: Results) -> list[str]:
        function_arn, _ = _alias_parts(change.target)
        cfg = aws.call(
            "lambda", change.region, "get_function_configuration", FunctionName=function_arn
        )
        if cfg.get("CodeSha256") != change.after.CodeSha256:
            return ["$LATEST code changed since the plan: publishing would ship other code"]
        return []

    def apply(
        self, aws: Door, change: MoveAliasChange, live: Live, results: Results
    ) -> dict[str, Any]:
        function_arn, alias = _alias_parts(change.target)
        # PublishVersion returns the existing last version when $LATEST has not
        # changed since it was published: only a version this change created
        # may be deleted on undo.
        existing = self._versions(aws, change, function_arn)
        # journaled before the publish: a kill right after it still lets
        # rollback find (and delete) the version this change made
        aws.progress({"KnownVersions": sorted(existing)})
        published = aws.call(
            "lambda",
            change.region,
            "publish_version",
            FunctionName=function_arn,
            CodeSha256=change.after.CodeSha256,
            Description=_mark(change),
        )
        # a version carrying this change's mark was made by it, even when an
        # interrupted attempt made it and this publish only returned it
        created = str(published["Version"]) not in existing or published.get(
            "Description"
        ) == _mark(change)
        aws.progress({"Version": published["Version"], "Created": created})
        params: dict[str, Any] = {
            "FunctionName": function_arn,
            "Name": alias,
            "FunctionVersion": published["Version"],
        }
        if live.revision_id:
            params["RevisionId"] = live.revision_id
        try:
            aws.call("lambda", change.region, "update_alias", **params)
        except AwsCallFailed:
            # the alias did not move: remove the version this change published
            if created:
                self._delete_version(aws, change, function_arn, str(published["Version"]))
            aws.progress(None)
            raise
        return {"Version": published["Version"], "Created": created}

    def _delete_version(
        self, aws: Door, change: MoveAliasChange, function_arn: str, version: str
    ) -> None:
        aws.call(
            "lambda",
            change.region,
            "delete_function",
            # the version's own (qualified) ARN: the IAM policy allows
            # DeleteFunction on qualified ARNs only, never on a whole function
            FunctionName=f"{function_arn}:{version}",
        )

    def _own_new_version(
        self, aws: Door, change: MoveAliasChange, function_arn: str, known: set[str]
    ) -> str | None:
        page = aws.call(
            "lambda",
            change.region,
            "list_versions_by_function",
            FunctionName=_function_name(function_arn),
        )
        for v in page.get("Versions", []):
            if str(v.get("Version")) not in known and v.get("Description") == _mark(change):
                return str(v["Version"])
        return None

    def _versions(self, aws: Door, change: MoveAliasChange, function_arn: str) -> set[str]:
        versions: set[str] = set()
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"FunctionName": _function_name(function_arn)}
            if marker:
                params["Marker"] = marker
            page = aws.call("lambda", change.region, "list_versions_by_function", **params)
            versions |= {str(v.get("Version")) for v in page.get("Versions", [])}
            marker = page.get("NextMarker")
            if not marker:
                return versions

    def undo(self, aws: Door, change: MoveAliasChange, result: dict[str, Any]) -> None:
        function_arn, alias = _alias_parts(change.target)
        aws.call(
            "lambda",
            change.region,
            "update_alias",
            FunctionName=function_arn,
            Name=alias,
            FunctionVersion=change.before.FunctionVersion,
        )
        version = result.get("Version")
        if version is None and "KnownVersions" in result:
            # interrupted between the publish and its record: a version made by
            # this change is one that was not there before and carries its mark
            version = self._own_new_version(aws, change, function_arn, set(result["KnownVersions"]))
            result = {**result, "Created": version is not None}
        if version and result.get("Created"):
            # Published by this change, and nothing points at it any more:
            # delete it so the function is exactly as it was.
            self._delete_version(aws, change, function_arn, str(version))


KIND = Kind(
    name=NAME,
    phase=5,
    summary="Publish $LATEST as a new version and point the alias at it.",
    reversible=True,
    permissions=(
        "lambda:PublishVersion",
        "lambda:UpdateAlias",
        "lambda:GetAlias",
        "lambda:GetFunctionConfiguration",
        "lambda:ListVersionsByFunction",
        "lambda:DeleteFunction",
    ),
    change=MoveAliasChange,
    before=MoveAliasBefore,
    after=MoveAliasAfter,
    handler=MoveAlias(),
    restore=restore,
)
