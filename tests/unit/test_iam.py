"""`remediate iam-policy`: the least-privilege policy of each mode covers every
AWS call the code makes, and nothing it does not need.

Three nets, so that a new call without its permission fails a test:

* the policy's shape, table-driven (pure);
* a static scan of the source: every ``aws.call("svc", region, "method")``
  style call (and the lock's and the notifier's client calls) must be
  covered by the policy of the mode its module runs in;
* a recorded run on moto (in-process ``mock_aws``, the one exception to
  "unit tests are pure" in this file, to keep the IAM proof in one place;
  two moto gaps are bridged by event hooks, see ``_moto_*``):
  plan, dry run, apply and rollback of every change kind, and a
  multi-account ``auto`` run, with every operation sent recorded through
  botocore's ``before-call`` event and checked against the policy of its
  mode.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import xform_name
from moto import mock_aws

import remediator
from remediator import planfile, planner, sandbox
from remediator.aws import discover, door
from remediator.changes import base, registry
from remediator.domain.errors import BadInput
from remediator.domain.outcomes import EXIT_OK
from remediator.domain.policy import Policy, parse_policy
from remediator.render import iam
from remediator.run import auto
from remediator.run.apply import ApplyOptions, run_apply, run_rollback
from remediator.run.verify import make_verifier
from tests.moto_worlds import seed_ec2_part

REGION = sandbox.REGION
NOW = "2026-01-01T00:00:00Z"
ROLE = "arn:aws:iam::{account_id}:role/remediator"
TOPIC = f"arn:aws:sns:{REGION}:{sandbox.ACCOUNT_ID}:remediator"
READS = ("Describe", "Get", "List")


def _doc(mode: str, **kw: Any) -> dict[str, Any]:
    return iam.policy_document(iam.PolicyOptions(mode=mode, **kw))


def _actions(doc: dict[str, Any]) -> set[str]:
    return set(iam.allowed_actions(doc))


# --------------------------------------------------------------------------
# The policy's shape


def test_plan_policy_is_discoverys_declared_reads_and_nothing_else() -> None:
    from remediator.aws import cloudformation

    doc = _doc("plan")
    # and the stack templates iac-patch reads
    assert _actions(doc) == set(discover.READ_PERMISSIONS) | set(cloudformation.PERMISSIONS)
    assert all(a.split(":", 1)[1].startswith(READS) for a in _actions(doc))
    assert {s["Resource"] for s in doc["Statement"]} == {"*"}


def test_apply_policy_is_plan_plus_every_kind_plus_what_iam_implies() -> None:
    actions = _actions(_doc("apply"))
    assert set(discover.READ_PERMISSIONS) <= actions
    for spec in registry.KINDS.values():
        assert set(spec.permissions) <= actions, spec.name
    for action, implied in iam.IMPLIED.items():
        if action in actions:
            assert set(implied) <= actions, action
    assert "route53:AssociateVPCWithHostedZone" in actions
    assert not any(
        a.startswith(("sts:AssumeRole", "sns:", "organizations:", "dynamodb:")) for a in actions
    )


def test_auto_policy_for_one_account_adds_regions_and_only_the_options_used() -> None:
    plain = _actions(_doc("auto"))
    assert plain == _actions(_doc("apply")) | {"ec2:DescribeRegions"}
    full = _doc("auto", notify_sns=TOPIC, lock_table="locks")
    statements = {s["Sid"]: s for s in full["Statement"]}
    assert statements["NotifySummary"] == {
        "Sid": "NotifySummary",
        "Effect": "Allow",
        "Action": ["sns:Publish"],
        "Resource": TOPIC,
    }
    assert statements["ApplyLock"]["Resource"] == "arn:aws:dynamodb:*:*:table/locks"
    assert statements["ApplyLock"]["Action"] == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]


def test_auto_policy_with_member_roles_is_the_runners_only() -> None:
    doc = _doc("auto", role_arn=ROLE, organization=True, notify_sns=TOPIC)
    actions = _actions(doc)
    assert actions == {
        "sts:GetCallerIdentity",
        "sts:AssumeRole",
        "ec2:DescribeRegions",
        "organizations:ListAccounts",
        "sns:Publish",
    }
    assume = next(s for s in doc["Statement"] if s["Sid"] == "AssumeMemberRoles")
    assert assume["Resource"] == "arn:aws:iam::*:role/remediator"
    assert "organizations:ListAccounts" not in _actions(_doc("auto", role_arn=ROLE))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"mode": "admin"}, "is not one of plan, apply, auto"),
        ({"mode": "plan", "notify_sns": TOPIC}, "belong to --mode auto"),
        ({"mode": "apply", "role_arn": ROLE}, "belong to --mode auto"),
        ({"mode": "auto", "organization": True}, "--organization needs --role-arn"),
    ],
)
def test_options_that_do_not_fit_the_mode_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        iam.policy_document(iam.PolicyOptions(**kw))


@pytest.mark.parametrize("mode", iam.MODES)
def test_rendered_policy_is_deterministic_json_with_unique_sids(mode: str) -> None:
    text = iam.render(iam.PolicyOptions(mode=mode))
    assert text == iam.render(iam.PolicyOptions(mode=mode))
    doc = json.loads(text)
    assert doc["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in doc["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in doc["Statement"]:
        assert statement["Action"] == sorted(statement["Action"])


@pytest.mark.parametrize(
    ("action", "granted", "covered"),
    [
        ("ec2:DescribeSubnets", ["ec2:DescribeSubnets"], True),
        ("ec2:DescribeSubnets", ["ec2:Describe*"], True),
        ("EC2:describesubnets", ["ec2:DescribeSubnets"], True),
        ("ec2:DescribeFlowLogs", ["ec2:DescribeSubnets"], False),
        ("lambda:UpdateFunctionConfiguration", ["lambda:*"], True),
    ],
)
def test_coverage_follows_iam_wildcards(action: str, granted: list[str], covered: bool) -> None:
    doc = {"Statement": [{"Effect": "Allow", "Action": granted, "Resource": "*"}]}
    assert iam.is_covered(action, doc) is covered


def test_a_call_without_its_permission_is_reported() -> None:
    """The synthetic check: an operation no mode declares is uncovered, and so
    is what IAM implies for a declared one when the document lacks it."""
    apply_doc = _doc("apply")
    assert iam.uncovered(["ec2:DescribeSubnets", "ec2:DescribeFlowLogs"], apply_doc) == [
        "ec2:DescribeFlowLogs"
    ]
    bare = {
        "Statement": [
            {"Effect": "Allow", "Action": ["lambda:UpdateFunctionConfiguration"], "Resource": "*"}
        ]
    }
    assert iam.uncovered(["lambda:UpdateFunctionConfiguration"], bare) == [
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    ]


# --------------------------------------------------------------------------
# Static scan: every AWS call written in the source


PACKAGE = Path(remediator.__file__).parent
_API_NAMES: dict[str, dict[str, str]] = {}


def _api(service: str, method: str) -> str:
    if service not in _API_NAMES:
        model = botocore.session.get_session().get_service_model(service)
        _API_NAMES[service] = {xform_name(op): op for op in model.operation_names}
    return iam.iam_action(service, _API_NAMES[service][method])


def _str(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


# file -> service of bare client calls (``self.client.put_item``, ``client.publish``)
_CLIENT_SERVICE = {"aws/lock_table.py": "dynamodb", "aws/notify.py": "sns"}
_SERVICES = {
    "sts",
    "lambda",
    "ec2",
    "organizations",
    "sns",
    "dynamodb",
    "resourcegroupstaggingapi",
}


def _constants(node: ast.expr) -> set[str]:
    """The strings an expression can be: a constant, or either side of ``a if c else b``."""
    if isinstance(node, ast.IfExp):
        return _constants(node.body) | _constants(node.orelse)
    value = _str(node)
    return {value} if value else set()


def _names(tree: ast.AST) -> dict[str, set[str]]:
    """Local names bound to string constants (``op = "create_route" if ... else ...``)."""
    out: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] |= _constants(node.value)
    return out


def scan(source: str, filename: str) -> set[str]:
    """The IAM actions of the AWS calls written in ``source``."""
    found: set[str] = set()
    tree = ast.parse(source)
    names = _names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name, args = node.func.attr, node.args
        # aws.call / items / iter_items / _pages(...): ("svc", region-or-op, "method", ...)
        service = _str(args[0]) if len(args) >= 3 else None
        methods: set[str] = set()
        if len(args) >= 3:
            third = args[2]
            methods = (
                names.get(third.id, set()) if isinstance(third, ast.Name) else _constants(third)
            )
        known = {m for m in methods if service in _SERVICES and _api_known(str(service), m)}
        if known:
            found |= {_api(str(service), m) for m in known}
        elif name == "filtered_items" and len(args) >= 2 and _str(args[1]):
            found.add(_api("ec2", str(_str(args[1]))))
        elif filename in _CLIENT_SERVICE and isinstance(node.func.value, ast.Attribute | ast.Name):
            owner = node.func.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else owner.id
            service = _CLIENT_SERVICE[filename]
            if owner_name == "client" and _api_known(service, name):
                found.add(_api(service, name))
    return found


def _api_known(service: str, method: str) -> bool:
    try:
        _api(service, method)
    except KeyError:
        return False
    return True


CHANGE_MODULES = tuple(
    f"changes/{p.name}"
    for p in sorted((PACKAGE / "changes").glob("*.py"))
    if p.name != "__init__.py"
)


def _scan_file(name: str) -> set[str]:
    return scan((PACKAGE / name).read_text(encoding="utf-8"), name)


def test_the_scanner_finds_the_calls_it_should() -> None:
    """A broken scanner would pass everything: check it finds known calls."""
    assert {"sts:GetCallerIdentity", "lambda:ListFunctions", "ec2:DescribeNatGateways"} <= (
        _scan_file("aws/discover.py") | _scan_file("aws/network.py") | _scan_file("aws/versions.py")
    )
    assert {
        "lambda:UpdateFunctionConfiguration",
        "ec2:CreateVpcEndpoint",
        "lambda:UpdateAlias",
    } <= set().union(*(_scan_file(name) for name in CHANGE_MODULES))
    assert {"dynamodb:PutItem", "dynamodb:DeleteItem"} <= _scan_file("aws/lock_table.py")
    assert _scan_file("aws/notify.py") == {"sns:Publish"}
    assert {"sts:AssumeRole", "organizations:ListAccounts", "ec2:DescribeRegions"} <= _scan_file(
        "aws/fleet.py"
    )


def test_every_call_in_the_source_is_covered_by_its_modes_policy() -> None:
    plan_doc = _doc("plan")
    apply_doc = _doc("apply", lock_table="locks")
    runner_doc = _doc(
        "auto", role_arn=ROLE, organization=True, notify_sns=TOPIC, lock_table="locks"
    )
    for name in ("aws/discover.py", "aws/network.py", "aws/versions.py"):
        assert iam.uncovered(_scan_file(name), plan_doc) == [], name
    for name in (*CHANGE_MODULES, "run/engine.py", "run/apply.py", "aws/lock_table.py"):
        assert iam.uncovered(_scan_file(name), apply_doc) == [], name
    for name in ("run/auto.py", "aws/fleet.py", "aws/notify.py"):
        assert iam.uncovered(_scan_file(name), runner_doc) == [], name
    # --verify reachability: the apply/auto policy with --reachability covers it
    reachability_calls = _scan_file("aws/reachability.py")
    assert {"ec2:CreateNetworkInsightsPath", "ec2:DeleteNetworkInsightsPath"} <= reachability_calls
    assert iam.uncovered(reachability_calls, _doc("apply", reachability=True)) == []
    assert iam.uncovered(reachability_calls, _doc("auto", reachability=True)) == []


def test_the_owner_view_calls_are_the_owner_role_and_the_participants_assume_role() -> None:
    """The owner's role covers exactly the describes aws/owner_view.py sends;
    the AssumeRole into it is on the participant's side (--network-role-arn)."""
    from remediator.aws.owner_view import OWNER_READS

    calls = _scan_file("aws/owner_view.py")
    owner_doc = _doc("network-owner")
    describes = {c for c in calls if c.startswith("ec2:")}
    assert describes == set(OWNER_READS)
    assert iam.uncovered(describes, owner_doc) == []
    assert calls - describes == {"sts:AssumeRole"}
    template = "arn:aws:iam::{account}:role/net-read"
    for mode in ("plan", "apply", "auto"):
        doc = _doc(mode, network_role_arn=template)
        assert iam.uncovered(["sts:AssumeRole"], doc) == [], mode
    assert iam.uncovered(["sts:AssumeRole"], _doc("plan")) == ["sts:AssumeRole"]


def test_the_static_check_fails_on_a_new_undeclared_call() -> None:
    source = (
        "def read(aws, region):\n"
        "    aws.call('ec2', region, 'describe_flow_logs', Filters=[])\n"
        "    aws.items('lambda', region, 'list_functions', 'Functions')\n"
    )
    found = scan(source, "aws/discover.py")
    assert found == {"ec2:DescribeFlowLogs", "lambda:ListFunctions"}
    assert iam.uncovered(found, _doc("plan")) == ["ec2:DescribeFlowLogs"]


# --------------------------------------------------------------------------
# Recorded runs on moto


@dataclass
class Recorder:
    """Records every operation sent, as an IAM action, under a label; the
    label of a session or client is fixed when it is attached, or follows
    ``phase``. ``kind`` attributes calls to the change kind being handled."""

    phase: str = "plan"
    ops: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_kind: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    kind: str | None = None

    def attach(self, owner: Any, label: str | None = None) -> Any:
        events = owner.events if hasattr(owner, "events") else owner.meta.events
        events.register_first(
            "before-call.*.*", partial(self._record, label), unique_id=f"rec-{id(self)}-{label}"
        )
        return owner

    def _record(self, label: str | None, model: Any = None, **_: Any) -> None:
        if model is None:
            return
        action = iam.iam_action(model.service_model.service_name, model.name)
        self.ops[label or self.phase].add(action)
        if self.kind is not None:
            self.by_kind[self.kind].add(action)


class _Attributed:
    """A handler whose calls are attributed to its kind while it runs."""

    def __init__(self, inner: base.Handler, recorder: Recorder) -> None:
        self._inner, self._recorder = inner, recorder

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            before, self._recorder.kind = self._recorder.kind, self._inner.kind
            try:
                return value(*args, **kwargs)
            finally:
                self._recorder.kind = before

        return wrapped


def _moto_endpoint_id_filter(params: dict[str, Any], **_: Any) -> None:
    """moto lacks DescribeVpcEndpoints' ``vpc-endpoint-id`` filter (AWS has it)."""
    filters = params.get("Filters") or []
    ids = [v for f in filters if f.get("Name") == "vpc-endpoint-id" for v in f.get("Values", [])]
    if ids:
        params["Filters"] = [f for f in filters if f.get("Name") != "vpc-endpoint-id"]
        params["VpcEndpointIds"] = ids


def _moto_private_dns(params: dict[str, Any], **_: Any) -> None:
    """moto's ModifyVpcEndpoint ignores ``PrivateDnsEnabled`` (AWS applies it):
    set it on moto's endpoint before the call goes out."""
    if "PrivateDnsEnabled" not in params:
        return
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[sandbox.ACCOUNT_ID][REGION]
    backend.vpc_end_points[params["VpcEndpointId"]].private_dns_enabled = params[
        "PrivateDnsEnabled"
    ]


def _ec2_kinds_world(session: boto3.session.Session) -> None:
    """Beside the sandbox, ``moto_worlds.seed_ec2_part`` with its third VPC:
    every EC2 change kind gets a function that needs it."""
    ec2, lam, iam_client = (session.client(s) for s in ("ec2", "lambda", "iam"))
    role = iam_client.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    seed_ec2_part(ec2, lam, role, endpoint_vpc=True)


EVERY_KIND_POLICY = """
[defaults]
allow_shared_route_table_changes = true

[[rules]]
name = "exempt-tag"
match_tags = { "remediator:exempt" = "true" }
exempt = true

[[rules]]
match_names = ["iso-nat"]
strategies = ["add-nat-route"]

[[rules]]
match_names = ["iso-api"]
strategies = ["lambda-endpoint"]
allow_endpoint_creation = true

[[rules]]
match_names = ["iso-endpoint"]
strategies = ["lambda-endpoint"]
"""


@dataclass
class Recorded:
    recorder: Recorder
    kinds_applied: set[str]
    calls: list[tuple[str, dict[str, Any], dict[str, dict[str, Any]]]] = field(default_factory=list)
    """Every call of the real (not dry) apply and rollback: its IAM action,
    its parameters, and the condition keys of the resources it names as they
    were when it was sent (tags, endpoint service)."""


def _resource_context(resource_id: str) -> dict[str, Any]:
    """The condition keys of an EC2 resource on moto, now: its tags
    (``aws:ResourceTag/<key>``) and, for an endpoint, its service."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[sandbox.ACCOUNT_ID][REGION]
    out: dict[str, Any] = {
        f"aws:ResourceTag/{t['key']}": t["value"]
        for t in backend.describe_tags(filters={"resource-id": [resource_id]})
    }
    endpoint = backend.vpc_end_points.get(resource_id)
    if endpoint is not None:
        out["ec2:VpceServiceName"] = endpoint.service_name
    return out


def _record_params(calls: list[Any], params: dict[str, Any], model: Any, **_: Any) -> None:
    action = iam.iam_action(model.service_model.service_name, model.name)
    ids = [params.get("GroupId"), *params.get("VpcEndpointIds", [])]
    context = {i: _resource_context(i) for i in ids if isinstance(i, str)}
    calls.append((action, dict(params), context))


@pytest.fixture(scope="module")
def every_kind_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """Plan, dry run, apply (every kind, risk up to high), verify and roll back
    the sandbox plus the EC2-kinds world, recording every call."""
    recorder = Recorder()
    mp = pytest.MonkeyPatch()
    with mock_aws():
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        try:
            session = boto3.Session(region_name=REGION)
            sandbox.seed(session, REGION)
            _ec2_kinds_world(session)
            policy: Policy = parse_policy(EVERY_KIND_POLICY)

            recorder.attach(session)
            recorder.phase = "plan"
            inventory = discover.discover(
                session,
                [REGION],
                need_tags=policy.uses_tags,
                dns_for_all_vpcs=policy.may_create_endpoints,
            )
            plan = planner.build_plan(inventory, policy, NOW)
            path = tmp_path_factory.mktemp("iam") / "p.json"
            planfile.write_plan(plan, path)
            plan = planfile.read_plan(path)

            recorder.phase = "apply"
            session.events.register(
                "before-parameter-build.ec2.DescribeVpcEndpoints", _moto_endpoint_id_filter
            )
            session.events.register(
                "before-parameter-build.ec2.ModifyVpcEndpoint", _moto_private_dns
            )
            original = registry.handler
            mp.setattr(registry, "handler", lambda kind: _Attributed(original(kind), recorder))

            def aws(dry_run: bool = False) -> door.Aws:
                def factory(service: str, region: str) -> Any:
                    return session.client(
                        service, region_name=region, config=door.executor_config()
                    )

                settings = door.Settings(sleep=lambda _: None, poll_interval=0, settle_timeout=5)
                return door.Aws(factory, settings=settings, dry_run=dry_run)

            dry = run_apply(plan, path, aws(True), ApplyOptions(dry_run=True, max_risk="high"))
            assert dry.exit_code == EXIT_OK, dry.lines
            calls: list[Any] = []
            session.events.register(
                "before-parameter-build.*.*", partial(_record_params, calls), unique_id="params"
            )
            done = run_apply(
                plan,
                path,
                aws(),
                ApplyOptions(max_risk="high", now=lambda: NOW),
                make_verifier(session, None, policy),
            )
            assert done.exit_code == EXIT_OK, done.lines
            assert done.journal is not None
            undone = run_rollback(plan, done.journal, aws(), None, lambda: NOW)
            assert undone.exit_code == EXIT_OK, undone.lines
            recorded = Recorded(recorder, {c.kind for c in plan.changes}, calls)
        finally:
            mp.undo()
    yield recorded


def test_the_recorded_run_exercised_every_change_kind(every_kind_run: Recorded) -> None:
    assert every_kind_run.kinds_applied == set(registry.KINDS)
    apply_ops = every_kind_run.recorder.ops["apply"]
    for write in (
        "lambda:UpdateFunctionConfiguration",
        "lambda:PublishVersion",
        "lambda:UpdateAlias",
        "lambda:DeleteFunction",
        "ec2:CreateRoute",
        "ec2:DeleteRoute",
        "ec2:ModifyVpcAttribute",
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:CreateVpcEndpoint",
        "ec2:DeleteVpcEndpoints",
    ):
        assert write in apply_ops, write


def test_every_call_of_plan_is_covered_by_the_plan_policy(every_kind_run: Recorded) -> None:
    plan_ops = every_kind_run.recorder.ops["plan"]
    assert {"sts:GetCallerIdentity", "lambda:ListFunctions", "ec2:DescribeSubnets"} <= plan_ops
    assert iam.uncovered(plan_ops, _doc("plan")) == []


def test_every_call_of_dry_run_apply_verify_rollback_is_covered_by_the_apply_policy(
    every_kind_run: Recorded,
) -> None:
    assert iam.uncovered(every_kind_run.recorder.ops["apply"], _doc("apply")) == []


def test_each_kind_declares_every_call_its_handler_makes(every_kind_run: Recorded) -> None:
    missing = {
        kind: sorted(ops - set(registry.KINDS[kind].permissions))
        for kind, ops in every_kind_run.recorder.by_kind.items()
    }
    assert {k: v for k, v in missing.items() if v} == {}


def test_every_call_of_apply_and_rollback_is_allowed_on_the_resources_it_names(
    every_kind_run: Recorded,
) -> None:
    """The scoped statements (resource ARNs, tag conditions) allow each
    resource each real call names, in the context it had: the groups and
    endpoints rollback deletes carry the tag their create put on them."""
    from tests.iam_eval import allowed, requests

    doc = _doc("apply")
    denied = []
    seen: set[str] = set()
    for action, params, context in every_kind_run.calls:
        seen.add(action)
        lookup = context.__getitem__
        for req in requests(action, params, REGION, sandbox.ACCOUNT_ID, lookup):
            if not allowed(doc, *req):
                denied.append(req)
    assert denied == []
    assert {"ec2:DeleteSecurityGroup", "ec2:DeleteVpcEndpoints", "lambda:DeleteFunction"} <= seen


def test_an_auto_run_across_accounts_stays_within_the_runner_and_member_policies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runner: identity, organization accounts, assume role, lock table, SNS.
    Members: discover, apply, verify, plan again."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    recorder = Recorder()
    with mock_aws():
        base = boto3.Session(region_name=REGION)
        sandbox.seed(base, REGION)
        org = base.client("organizations")
        org.create_organization(FeatureSet="ALL")
        org.create_account(AccountName="empty", Email="empty@example.com")
        base.client("dynamodb").create_table(
            TableName="locks",
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        base.client("sns").create_topic(Name="remediator")

        def on_session(session: Any, target: auto.Target | None) -> None:
            recorder.attach(session, "runner" if target is None else "member")

        opts = auto.AutoOptions(
            out_dir=tmp_path / "out",
            policy=parse_policy(
                '[[rules]]\nmatch_tags = { "remediator:exempt" = "true" }\nexempt = true\n'
            ),
            regions=(REGION,),
            role_arn=ROLE,
            organization=True,
            notify_sns=TOPIC,
            lock_table="locks",
        )
        summary = auto.run(
            opts,
            auto.Deps(
                verifier=make_verifier,
                now=lambda: NOW,
                make_session=lambda _profile: boto3.Session(region_name=REGION),
                settings=door.Settings(sleep=lambda _: None),
                on_session=on_session,
            ),
        )
    assert summary.error is None
    assert summary.notification is not None and summary.notification["error"] is None
    assert len(summary.targets) == 2
    assert sum(len(t.applied) for t in summary.targets) == 1, summary.to_json()
    runner, member = recorder.ops["runner"], recorder.ops["member"]
    assert {"organizations:ListAccounts", "sts:AssumeRole", "sns:Publish", "dynamodb:PutItem"} <= (
        runner
    )
    assert "lambda:UpdateFunctionConfiguration" in member
    runner_doc = _doc(
        "auto", role_arn=ROLE, organization=True, notify_sns=TOPIC, lock_table="locks"
    )
    assert iam.uncovered(runner, runner_doc) == []
    assert iam.uncovered(member, _doc("apply")) == []
