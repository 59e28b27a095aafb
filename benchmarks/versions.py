"""An account that keeps every published version, and the two ways to read it.

The Serverless Framework keeps every version by default, so hundreds per
function are common. This estate has ``functions`` VPC functions on one NAT
subnet pair (built by ``estate.seed_network``), each with ``versions``
published versions and an alias ``live`` on the last; for every fourth
function, version 1 was published on public subnets and the alias runs it
(an ``alias-config-broken`` finding either way). ``remediate plan`` is
run twice on it: with ``versions_read = "listed"`` (the whole
``ListFunctions(FunctionVersion=ALL)`` listing, 50 entries a page behind the
proxy) and with the built-in ``"auto"`` (which switches to reading by alias:
``aws.versions``). Both must find the same thing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmarks import estate

POLICY_LISTED = 'versions_read = "listed"\n'


def seed(url: str, functions: int, versions: int) -> dict[str, Any]:
    """Seed the estate in moto's Lambda backend (in this process)."""
    import boto3
    from moto.awslambda.models import lambda_backends

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=estate.REGION
    )
    network = estate.seed_network(session.client("ec2", endpoint_url=url), 1)
    specs = estate.function_specs(network, 200)
    healthy = next(s["vpc"] for s in specs if s["kind"] == "healthy")
    public = next(s["vpc"] for s in specs if s["kind"] == "all-public")
    started = time.perf_counter()
    role = session.client("iam", endpoint_url=url).create_role(
        RoleName="versions-bench", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    backend = lambda_backends[estate.ACCOUNT_ID][estate.REGION]
    code = estate._code()
    for i in range(functions):
        name = f"kept-{i:04d}"
        backend.create_function(
            {
                "FunctionName": name,
                "Runtime": "python3.12",
                "Role": role,
                "Handler": "index.handler",
                "Code": {"ZipFile": code},
                "VpcConfig": public if i % 4 == 0 else healthy,
            }
        )
        last = backend.publish_version(name)
        if i % 4 == 0:
            backend.update_function_configuration(name, None, {"VpcConfig": healthy})
            aliased = last
        for n in range(2, versions + 1):
            # AWS (and moto) publish nothing new when nothing changed
            backend.update_function_configuration(name, None, {"Description": f"deploy {n}"})
            last = backend.publish_version(name)
        backend.create_alias(
            name="live",
            function_name=name,
            function_version=str((aliased if i % 4 == 0 else last).version),  # type: ignore[union-attr]
            description="",
            routing_config=None,  # type: ignore[arg-type]
        )
    return {
        "functions": functions,
        "versions_per_function": versions,
        "seed_seconds": round(time.perf_counter() - started, 1),
    }


def run(
    spawner: Any, remediate: list[str], env: dict[str, str], scratch: Path, region: str
) -> dict[str, Any]:
    """``remediate plan`` with each read: seconds, peak memory, calls."""
    listed_policy = scratch / "policy-versions-listed.toml"
    listed_policy.write_text(POLICY_LISTED)
    rows: dict[str, Any] = {}
    for read, policy in (("listed", listed_policy), ("auto", None)):
        plan_file = scratch / f"plan-versions-{read}.json"
        cmd = [*remediate, "plan", "--region", region, "--out", str(plan_file)]
        if policy is not None:
            cmd += ["--policy", str(policy)]
        usage = spawner.measure(cmd, env, scratch / f"plan-versions-{read}.out")
        doc = json.loads(plan_file.read_text())
        calls = doc["metadata"]["api_calls"]
        rows[read] = {
            "seconds": usage["seconds"],
            "peak_mb": usage["peak_mb"],
            "api_calls": calls,
            "lambda_calls": sum(v for k, v in calls.items() if k.startswith("lambda:")),
            "summary": doc["summary"],
            "findings": sorted(
                (f["function"], f["code"]) for f in doc["findings"]
            ),  # compared, then dropped
        }
    same = rows["listed"].pop("findings") == rows["auto"].pop("findings")
    return {"rows": rows, "same_findings": same}
