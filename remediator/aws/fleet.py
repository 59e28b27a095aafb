"""The AWS side of a fleet run: the runner's identity, the organization's
accounts, the enabled regions, and one session per member account on
assumed-role credentials (assumed once per role, refreshed before they
expire). Every call goes through one door (``retry="botocore"``, the
runner's own session, the run's mode)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import structlog

from remediator.aws import session as sessions
from remediator.aws.door import Aws
from remediator.domain.errors import AwsAccessError, RemediatorError
from remediator.domain.mode import Mode
from remediator.domain.targets import ACCOUNT_ID

if TYPE_CHECKING:
    from mypy_boto3_organizations.type_defs import AccountTypeDef
    from mypy_boto3_sts.type_defs import CredentialsTypeDef

log = structlog.get_logger(__name__)

ENABLED_OPT_IN = frozenset({"opt-in-not-required", "opted-in"})


def active_accounts(accounts: Iterable[AccountTypeDef]) -> list[str]:
    """The ids of ACTIVE accounts (``Status``, or the newer ``State``)."""
    out = []
    for account in accounts:
        state = account.get("State") or account.get("Status")
        if state == "ACTIVE" and ACCOUNT_ID.match(str(account.get("Id", ""))):
            out.append(str(account["Id"]))
    return sorted(set(out))


def enabled_regions(regions: Iterable[Mapping[str, object]]) -> list[str]:
    """The names of the regions the account may use (opted in, or needing no opt-in)."""
    return sorted(
        str(r["RegionName"])
        for r in regions
        if r.get("OptInStatus", "opt-in-not-required") in ENABLED_OPT_IN
    )


class Fleet:
    """The runner's view of the fleet through one door. ``home`` is the region
    of the runner's own calls (STS, Organizations, DescribeRegions)."""

    def __init__(
        self,
        base: Any,
        *,
        home: str,
        run_id: str,
        mode: Mode,
        profile: str | None = None,
        endpoint_url: str | None = None,
        external_id: str | None = None,
        on_session: Callable[[Any, str | None], None] | None = None,
    ) -> None:
        self.base = base
        self.home = home
        self.run_id = run_id
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.external_id = external_id
        self.door = Aws(
            sessions.client_factory(base, endpoint_url=endpoint_url, config="read"),
            mode=mode,
            retry="botocore",
        )
        self._credentials: dict[str, Any] = {}
        self._role_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._loader = sessions.new_loader()

    def client(self, service: str, region: str | None = None) -> Any:
        return self.door.client(service, region or self.home)

    def caller_account(self) -> str:
        return str(self.door.call("sts", self.home, "get_caller_identity")["Account"])

    def organization_accounts(self) -> list[str]:
        listed = self.door.items("organizations", self.home, "list_accounts", "Accounts")
        return active_accounts(listed)

    def enabled_regions(self) -> list[str]:
        described = self.door.call("ec2", self.home, "describe_regions").get("Regions", [])
        return enabled_regions(described)

    def _assume(self, role_arn: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": f"remediator-{self.run_id}"[:64],
            "DurationSeconds": 3600,
        }
        if self.external_id:
            params["ExternalId"] = self.external_id
        try:
            out: CredentialsTypeDef = self.door.call("sts", self.home, "assume_role", **params)[
                "Credentials"
            ]
        except RemediatorError as exc:
            raise AwsAccessError(
                f"Cannot assume {role_arn}: {exc.message}",
                hint="Check that the role exists and trusts this runner (and --external-id).",
            ) from exc
        expiry: object = out["Expiration"]  # a datetime from botocore, a string from some fakes
        return {
            "access_key": out["AccessKeyId"],
            "secret_key": out["SecretAccessKey"],
            "token": out["SessionToken"],
            "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
        }

    def session_for(self, role_arn: str | None) -> Any:
        """A new session for one target: the runner's chain (``None``) or the
        role's refreshing credentials. Not shared across threads."""
        if role_arn is None:
            return sessions.member_session(self._loader, self.profile)
        with self._guard:
            role_lock = self._role_locks.setdefault(role_arn, threading.Lock())
        with role_lock:
            if role_arn not in self._credentials:
                self._credentials[role_arn] = sessions.refreshing(lambda: self._assume(role_arn))
        return sessions.member_session(self._loader, credentials=self._credentials[role_arn])
