"""What one ``remediate auto`` run (or an event run, which goes through
``run.auto``) is asked to do: ``AutoOptions``, re-exported by ``run.auto``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from remediator.aws import discover
from remediator.domain.policy import Policy
from remediator.planfile.signing import Trust
from remediator.run import artifacts


@dataclass(frozen=True)
class AutoOptions:
    out_dir: Path
    policy: Policy
    regions: tuple[str, ...] = ()
    max_risk: str = "low"
    max_changes: int = 25
    concurrency: int = 4
    role_arn: str | None = None
    external_id: str | None = None
    accounts: tuple[str, ...] = ()
    organization: bool = False
    shard: tuple[int, int] | None = None
    functions: tuple[str, ...] = ()
    notify_sns: str | None = None
    lock_table: str | None = None
    lock_dir: Path | None = None
    dry_run: bool = False
    profile: str | None = None
    endpoint_url: str | None = None
    run_id: str | None = None
    network_role_arn: str | None = None
    """Role template (``{account}``) in shared VPCs' owner accounts; else the policy's."""
    trust: Trust | None = None
    """The signing key: signs the plans the run writes, checks them before apply."""
    scope: discover.Scope | None = None
    """Read only these functions or VPCs (an event run); their plans close no
    Security Hub finding of an earlier run, which judged more."""
    sink: artifacts.OutDir | None = None
    """Where the artifacts go when not only ``out_dir`` (S3): published at the end."""
    # an event run over several accounts: what each account reads (else
    # ``scope``), and the accounts reached without ``role_arn`` (the operator's)
    scopes: Mapping[str, discover.Scope | None] | None = None
    direct_accounts: tuple[str, ...] = ()
