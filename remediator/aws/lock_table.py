"""The DynamoDB lock (``--lock-table``): a conditional put on the key
``LockID`` (``attribute_not_exists``), released with a conditional delete on
the owner's run id. A refused lock names its holder; a stale lock is only
broken explicitly (``remediate unlock``). ``client`` is a DynamoDB client
from the run's door (``Aws.client("dynamodb", region)``)."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from remediator.domain.errors import RemediatorError
from remediator.domain.lock import LockHeld, describe_holder

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@dataclass
class DynamoLock:
    client: DynamoDBClient
    table: str

    def acquire(self, key: str, info: dict[str, Any]) -> None:
        item = {"LockID": {"S": key}, **{k: {"S": str(v)} for k, v in info.items()}}
        try:
            self.client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(LockID)"
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                held = self.client.get_item(
                    TableName=self.table, Key={"LockID": {"S": key}}, ConsistentRead=True
                ).get("Item", {})
                holder = {k: v.get("S") for k, v in held.items()}
                raise LockHeld(
                    f"Another run (apply or rollback) holds the lock for {key} in table {self.table}: {describe_holder(holder)}.",
                    hint="Wait for it to finish; if that run is dead, break it with `remediate unlock PLAN --lock-table TABLE`.",
                ) from None
            if code == "ResourceNotFoundException":
                raise RemediatorError(
                    f"Lock table {self.table} does not exist.",
                    hint="Create it with a string partition key named LockID, or leave out --lock-table for a local lock.",
                ) from None
            raise

    def release(self, key: str, info: dict[str, Any]) -> None:
        with suppress(ClientError):
            self.client.delete_item(
                TableName=self.table,
                Key={"LockID": {"S": key}},
                ConditionExpression="run_id = :r",
                ExpressionAttributeValues={":r": {"S": str(info["run_id"])}},
            )

    def break_lock(self, key: str) -> bool:
        out = self.client.delete_item(
            TableName=self.table, Key={"LockID": {"S": key}}, ReturnValues="ALL_OLD"
        )
        return bool(out.get("Attributes"))
