"""Cloud Custodian on the same estate, for the comparison the targets name.

Custodian's Lambda ``subnet`` filter is its closest detection: it lists the
functions and reads the subnets they use. It is run as a subprocess
(``custodian run``) against the same endpoint as ``remediate plan``
(``AWS_ENDPOINT_URL``, through the same latency proxy), detection only (no
actions). Custodian is not a dependency of remediator: install it in a
virtual environment of its own (``python3 -m venv /tmp/c7n && /tmp/c7n/bin/pip
install c7n``) and pass ``--custodian /tmp/c7n/bin/custodian`` to
benchmarks/run.py; without it the comparison is reported as not measured.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Protocol

POLICY = """\
policies:
  - name: lambda-in-public-subnet
    resource: aws.lambda
    filters:
      - type: subnet
        key: MapPublicIpOnLaunch
        value: true
"""


class _Measures(Protocol):
    def measure(self, cmd: list[str], env: dict[str, str], stdout: Path) -> dict[str, Any]: ...


def find(path: str | None) -> str | None:
    """The custodian executable: the one given, else ``custodian`` on PATH."""
    if path:
        return path if Path(path).exists() else None
    return shutil.which("custodian")


def run(
    spawner: _Measures,
    exe: str,
    env: dict[str, str],
    scratch: Path,
    region: str,
    calls: Any,
    repeat: int,
    throttled: Any = lambda: 0,
    quota_calls: Any = lambda: 0,
) -> dict[str, Any]:
    """Best wall time of ``repeat`` runs, peak RSS, the API calls of one run
    (``calls()`` reads the proxy's counter; ``quota_calls()`` those that drew
    on Lambda's control-plane quota, ``throttled()`` those it refused for it)
    and the resources matched."""
    policy = scratch / "custodian.yml"
    policy.write_text(POLICY)
    runs, peaks, per_run, refused, lambda_calls = [], [], [], [], []
    for i in range(repeat):
        out_dir = scratch / f"custodian-out-{i}"
        before, throttled_before, quota_before = calls(), throttled(), quota_calls()
        usage = spawner.measure(
            # --cache-period 0: Custodian keeps what it read for 15 minutes by
            # default, and a second run would then read nothing
            [
                exe,
                "run",
                "--region",
                region,
                "--cache-period",
                "0",
                "-s",
                str(out_dir),
                str(policy),
            ],
            env,
            scratch / f"custodian-{i}.out",
        )
        per_run.append(calls() - before)
        refused.append(throttled() - throttled_before)
        lambda_calls.append(quota_calls() - quota_before)
        runs.append(usage["seconds"])
        peaks.append(usage["peak_mb"])
    resources = out_dir / "lambda-in-public-subnet" / "resources.json"
    matched = len(json.loads(resources.read_text())) if resources.exists() else None
    return {
        "seconds": min(runs),
        "runs": runs,
        "peak_mb": max(peaks),
        "api_calls": per_run[-1],
        "throttled": refused[-1],
        "lambda_calls": lambda_calls[-1],
        "matched": matched,
    }
