"""A validator of ASFF findings against botocore's Security Hub model:
``AwsSecurityFinding`` walked shape by shape, checking required members,
types, enums, patterns (Java ``matches``: the whole string, ``.`` not
matching a newline) and min/max, which botocore's ParamValidator does not
check for patterns; plus the documented limits the model does not carry."""

from __future__ import annotations

import re
from typing import Any

import botocore.session

_MODEL = botocore.session.get_session().get_service_model("securityhub")
# Security Hub user guide, ASFF attributes: limits the service enforces that
# the model leaves out.
DOCUMENTED_MAX: dict[str, int] = {
    "Id": 512,
    "Title": 256,
    "Description": 1024,
    "Remediation.Recommendation.Text": 512,
    "Resources[].Id": 512,
    "GeneratorId": 512,
}
DOCUMENTED_ITEMS_MAX: dict[str, int] = {"Types": 50, "Resources": 32, "ProductFields": 50}


def _path_key(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def _check(shape: Any, value: Any, path: str, errors: list[str]) -> None:
    md = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object")
            return
        for name in shape.required_members:
            if name not in value:
                errors.append(f"{path}.{name}: required")
        for key, item in value.items():
            if key not in shape.members:
                errors.append(f"{path}.{key}: not in the model")
                continue
            _check(shape.members[key], item, f"{path}.{key}" if path else key, errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        _limits(md, len(value), path, errors)
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        for key, item in value.items():
            _check(shape.key, key, f"{path}{{key {key!r}}}", errors)
            _check(shape.value, item, f"{path}{{{key!r}}}", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string")
            return
        if md.get("enum") and value not in md["enum"]:
            errors.append(f"{path}: {value!r} not one of {md['enum']}")
        if "pattern" in md and re.fullmatch(md["pattern"], value) is None:
            errors.append(f"{path}: {value!r} does not match {md['pattern']!r}")
        _limits(md, len(value), path, errors)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer")
            return
        _limits(md, value, path, errors)
    elif kind == "double":
        if not isinstance(value, int | float) or isinstance(value, bool):
            errors.append(f"{path}: expected a number")
    elif kind == "boolean" and not isinstance(value, bool):
        errors.append(f"{path}: expected a boolean")


def _limits(md: dict[str, Any], size: int, path: str, errors: list[str]) -> None:
    if "min" in md and size < md["min"]:
        errors.append(f"{path}: {size} is below the minimum {md['min']}")
    if "max" in md and size > md["max"]:
        errors.append(f"{path}: {size} is above the maximum {md['max']}")


def _documented(finding: dict[str, Any], errors: list[str]) -> None:
    def values(obj: Any, parts: list[str]) -> list[Any]:
        if not parts:
            return [obj]
        head, rest = parts[0], parts[1:]
        if head.endswith("[]"):
            items = obj.get(head[:-2], []) if isinstance(obj, dict) else []
            return [v for item in items for v in values(item, rest)]
        return values(obj[head], rest) if isinstance(obj, dict) and head in obj else []

    for path, limit in DOCUMENTED_MAX.items():
        for value in values(finding, path.split(".")):
            if isinstance(value, str) and len(value) > limit:
                errors.append(f"{path}: {len(value)} characters, the limit is {limit}")
    for key, limit in DOCUMENTED_ITEMS_MAX.items():
        if len(finding.get(key, ())) > limit:
            errors.append(f"{key}: more than {limit} items")
    for key, value in finding.get("ProductFields", {}).items():
        if len(key) > 128 or len(value) > 2048:
            errors.append(f"ProductFields[{key!r}]: key or value too long")


def validate(finding: dict[str, Any]) -> list[str]:
    """Every way ``finding`` breaks the model; empty when valid."""
    errors: list[str] = []
    _check(_MODEL.shape_for("AwsSecurityFinding"), finding, "", errors)
    _documented(finding, errors)
    return errors
