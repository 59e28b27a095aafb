"""The one registry of change kinds: name -> ``Kind`` (Cloud Custodian style).

Adding a kind is one module under ``remediator/changes/`` declaring ``KIND``
(plus its tests): the registry finds it. Everything else reads the
kind from here: the planner (spec, typed change), the engine (handler,
restore point), ``remediate iam-policy`` (permissions) and ``remediate
schema`` (``Change``, the union of every kind's typed change).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union

from pydantic import Field, TypeAdapter, ValidationError

import remediator.changes
from remediator.changes import (
    ec2_endpoint_ingress,
    ec2_endpoint_private_dns,
    ec2_endpoint_sg,
    ec2_lambda_endpoint,
    ec2_nat_route,
    ec2_vpc_dns,
    lambda_alias,
    lambda_vpc_config,
)
from remediator.changes.base import Handler, Kind
from remediator.domain.errors import BadInput
from remediator.domain.plan import ChangeBase


def _kind_modules() -> list[ModuleType]:
    """Every module of this package that declares a ``KIND``: a new kind is
    one new module, found here without another list to keep."""
    modules = [
        importlib.import_module(f"{remediator.changes.__name__}.{info.name}")
        for info in pkgutil.iter_modules(remediator.changes.__path__)
    ]
    return [m for m in modules if isinstance(getattr(m, "KIND", None), Kind)]


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in sorted((m.KIND for m in _kind_modules()), key=lambda k: (k.phase, k.name))
}
"""Every kind by name, in apply order (``phase``, then name)."""

if TYPE_CHECKING:
    Change = ChangeBase
else:
    Change = Annotated[
        Union[tuple(k.change for k in KINDS.values())],  # noqa: UP007 (built at run time)
        Field(discriminator="kind"),
    ]
"""A change of any kind: the plan file's ``changes`` items, told apart by
``kind`` (the discriminated union of every kind's typed change)."""

_CHANGE: TypeAdapter[Change] = TypeAdapter(Change)

# The names the planner uses (each kind module's NAME).
UPDATE_VPC_CONFIG = lambda_vpc_config.NAME
PUT_NAT_ROUTE = ec2_nat_route.NAME
ENABLE_VPC_DNS = ec2_vpc_dns.NAME
CREATE_ENDPOINT_SG = ec2_endpoint_sg.NAME
AUTHORIZE_ENDPOINT_INGRESS = ec2_endpoint_ingress.NAME
CREATE_LAMBDA_ENDPOINT = ec2_lambda_endpoint.NAME
ENABLE_ENDPOINT_PRIVATE_DNS = ec2_endpoint_private_dns.NAME
MOVE_ALIAS = lambda_alias.NAME

C = TypeVar("C", bound=ChangeBase)


def kinds() -> Iterator[Kind]:
    """Every kind, in apply order."""
    return iter(KINDS.values())


def spec(kind: str) -> Kind:
    return KINDS[kind]


def handler(kind: str) -> Handler[Any]:
    return KINDS[kind].handler


def build(fields: Mapping[str, Any]) -> Change:
    """The typed change of ``fields`` (``before``/``after`` as plain dicts, as
    the planner writes them); the kind is ``fields["kind"]``."""
    return _CHANGE.validate_python(fields)


def restore_point(change: C, state_before: Mapping[str, Any] | None) -> C:
    """``change`` with ``before`` taken from ``state_before``, the target's
    live state the journal recorded right before the change's write: what
    rollback must restore, whatever the plan's ``before`` says. ``None``
    (nothing recorded) keeps the plan's ``before``, which ``check_before``
    proved to agree with the fingerprint the write was checked against."""
    if state_before is None:
        return change
    try:
        before = KINDS[change.kind].restore(change, state_before)
    except (KeyError, TypeError, ValidationError):
        raise BadInput(
            f"The journaled state of change {change.id} ({change.kind}) is not a state of its target: {dict(state_before)}.",
            hint="The journal was edited or belongs to another version; undo the change by hand.",
        ) from None
    if before == change.before:
        return change
    return change.model_copy(update={"before": before})


def check_before(change: ChangeBase) -> str | None:
    """Why the change's ``before`` disagrees with the state its fingerprint
    recorded (None: it agrees). ``remediate plan`` writes them from the same
    reading; a plan where they differ was edited."""
    state = change.fingerprint.state
    try:
        expected = KINDS[change.kind].restore(change, state)
    except (KeyError, TypeError, ValidationError):
        return f"its fingerprint state {state} is not a {change.kind} state"
    before = change.before
    if expected != before:
        shown = "null" if before is None else str(before)
        return f"its before {shown} disagrees with its fingerprint state {state}"
    return None
