"""The template patch: the subnets a fix gives a function, written where the
function's owner defines them (pure: template text in, patch out).

``patch_template(text, logical_id, subnet_ids)`` finds the function's
``SubnetIds`` (``AWS::Lambda::Function``: ``Properties.VpcConfig``;
``AWS::Serverless::Function``: its own ``VpcConfig``, else
``Globals.Function.VpcConfig``) and says what to deploy:

- ``template``: the ids are literals: the same text with only the subnet
  lines changed (kept items keep their lines, removed ones go, new ones are
  added in the first item's style);
- ``parameters``: the ids come from a parameter (``Ref`` to a
  ``List<AWS::EC2::Subnet::Id>``/``CommaDelimitedList``/``List<String>``
  parameter, or ``Fn::Split`` of a ``String`` one): no template change, the
  parameter's new value (every other parameter keeps its previous value);
- ``manual``: the ids come from something the stack cannot change
  (``Fn::ImportValue``: the export; a nested stack's output; ``Fn::If``; a
  resource in the stack): which expression to change, and where.

A CDK-generated resource (``Metadata.aws:cdk:path``) is patched like any
other, with a note that the next ``cdk deploy`` regenerates the template from
the app, where ``vpcSubnets`` must change too.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import yaml

from remediator.iac.cfn_yaml import (
    Format,
    Template,
    argument,
    argument_expression,
    expression,
    get,
    intrinsic,
    keys,
    position,
    read_template,
    text_of,
    value,
)

PatchKind = Literal["template", "parameters", "manual"]
LIST_PARAMETER_TYPES = frozenset(
    {"List<AWS::EC2::Subnet::Id>", "CommaDelimitedList", "List<String>"}
)
FUNCTION_TYPES = frozenset({"AWS::Lambda::Function", "AWS::Serverless::Function"})
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


@dataclass(frozen=True)
class Patch:
    """What to deploy so the owner's next deploy keeps the fix.

    ``text``: the patched template (``template``); ``parameters``: name ->
    new value (``parameters``), ``keep`` the other parameters (previous
    values); ``where``: the expression and its position; ``export``: the
    export to change (``Fn::ImportValue``); ``notes`` for the reviewer."""

    kind: PatchKind
    format: Format
    where: str
    text: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    keep: tuple[str, ...] = ()
    export: str | None = None
    notes: tuple[str, ...] = ()


def is_sam(template: Template) -> bool:
    node = get(template.root, "Transform")
    transform = value(node) if node is not None else None
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def patch_template(text: str, logical_id: str, subnet_ids: Sequence[str]) -> Patch:
    """The patch giving ``logical_id``'s function ``subnet_ids``."""
    template = read_template(text)
    fmt = template.format
    resources = get(template.root, "Resources")
    resource = get(resources, logical_id)
    kind = text_of(resource, "Type")
    if resource is None or kind not in FUNCTION_TYPES:
        return Patch(
            "manual",
            fmt,
            f"the template has no function resource '{logical_id}'",
            notes=("the stack may be a nested stack's parent: patch the stack the tag names",),
        )
    notes: list[str] = []
    cdk_path = text_of(get(resource, "Metadata"), "aws:cdk:path")
    if cdk_path:
        notes.append(
            f"CDK-generated (aws:cdk:path {cdk_path}): the next cdk deploy regenerates this "
            "template; change the function's vpcSubnets in the CDK app too"
        )
    located = _subnet_ids_node(template, resource, kind, logical_id, notes)
    if isinstance(located, Patch):
        return located
    node, where = located
    return _patch_node(template, node, where, list(subnet_ids), tuple(notes))


def _subnet_ids_node(
    template: Template,
    resource: yaml.Node,
    kind: str,
    logical_id: str,
    notes: list[str],
) -> tuple[yaml.Node, str] | Patch:
    fmt = template.format
    vpc = get(get(resource, "Properties"), "VpcConfig")
    where = f"Resources.{logical_id}.Properties.VpcConfig.SubnetIds"
    if vpc is None and kind == "AWS::Serverless::Function":
        vpc = get(get(get(template.root, "Globals"), "Function"), "VpcConfig")
        where = "Globals.Function.VpcConfig.SubnetIds"
        others = _inheriting(template, logical_id)
        if vpc is not None and others:
            return Patch(
                "manual",
                fmt,
                f"{where} ({position(vpc)}) also serves {', '.join(others)}",
                notes=(
                    f"add VpcConfig.SubnetIds to {logical_id}'s Properties (it overrides the "
                    "Globals for this function alone) rather than change the shared Globals",
                    *notes,
                ),
            )
    if vpc is None:
        return Patch("manual", fmt, f"{where}: the template gives the function no VpcConfig")
    call = intrinsic(vpc)
    if call is not None:
        return Patch(
            "manual", fmt, f"{where[: -len('.SubnetIds')]} is {expression(vpc)} ({position(vpc)})"
        )
    node = get(vpc, "SubnetIds")
    if node is None:
        return Patch("manual", fmt, f"{where}: missing")
    return node, where


def _inheriting(template: Template, logical_id: str) -> list[str]:
    """The other SAM functions that take their VpcConfig from the Globals."""
    resources = get(template.root, "Resources")
    out = []
    for name in keys(resources):
        res = get(resources, name)
        if name == logical_id or text_of(res, "Type") != "AWS::Serverless::Function":
            continue
        if get(get(res, "Properties"), "VpcConfig") is None:
            out.append(name)
    return sorted(out)


def _patch_node(
    template: Template, node: yaml.Node, where: str, subnet_ids: list[str], notes: tuple[str, ...]
) -> Patch:
    fmt = template.format
    at = f"{where} ({position(node)})"
    if isinstance(node, yaml.SequenceNode) and intrinsic(node) is None:
        literal = all(
            isinstance(item, yaml.ScalarNode) and intrinsic(item) is None for item in node.value
        )
        if literal and node.value:
            text = edit_list(template.text, node, subnet_ids, fmt)
            return Patch("template", fmt, at, text=text, notes=notes)
        exports = [_export(item) for item in node.value if _export(item)]
        return Patch(
            "manual",
            fmt,
            f"{at}: items " + "; ".join(expression(item) for item in node.value if intrinsic(item)),
            export=", ".join(e for e in exports if e) or None,
            notes=(
                "change the subnets each item names so the list holds " + ", ".join(subnet_ids),
                *notes,
            ),
        )
    call = intrinsic(node)
    if call is None:
        return Patch(
            "manual", fmt, f"{at}: {expression(node)} is not a list of subnet ids", notes=notes
        )
    return _patch_call(template, node, call, at, subnet_ids, notes)


def _export(node: yaml.Node) -> str | None:
    call = intrinsic(node)
    if call is None or call[0] != "Fn::ImportValue":
        return None
    data = argument(call)
    return data if isinstance(data, str) else argument_expression(call)


def _patch_call(
    template: Template,
    node: yaml.Node,
    call: tuple[str, yaml.Node],
    at: str,
    subnet_ids: list[str],
    notes: tuple[str, ...],
) -> Patch:
    fmt = template.format
    name, arg = call
    wanted = ", ".join(subnet_ids)
    params = get(template.root, "Parameters")
    if (
        name == "Ref"
        and isinstance(arg, yaml.ScalarNode)
        and get(params, str(arg.value)) is not None
    ):
        param = str(arg.value)
        ptype = text_of(get(params, param), "Type")
        if ptype in LIST_PARAMETER_TYPES:
            return _parameters(template, param, ",".join(subnet_ids), at, notes)
        return Patch(
            "manual",
            fmt,
            f"{at}: parameter {param} has type {ptype}",
            notes=(f"give it the subnets {wanted}", *notes),
        )
    if name == "Fn::Split" and isinstance(arg, yaml.SequenceNode) and len(arg.value) == 2:
        delim, source = arg.value
        inner = intrinsic(source)
        if (
            isinstance(delim, yaml.ScalarNode)
            and inner is not None
            and inner[0] == "Ref"
            and isinstance(inner[1], yaml.ScalarNode)
            and get(params, str(inner[1].value)) is not None
        ):
            return _parameters(
                template, str(inner[1].value), str(delim.value).join(subnet_ids), at, notes
            )
        export = _export(source)
        if export is not None:
            return _import(fmt, at, node, export, wanted, notes)
    if name == "Fn::ImportValue":
        return _import(fmt, at, node, _export(node) or argument_expression(call), wanted, notes)
    if name == "Fn::GetAtt":
        target = argument(call)
        parts = target.split(".", 1) if isinstance(target, str) else [str(p) for p in target]
        nested = get(get(template.root, "Resources"), parts[0])
        ntype = text_of(nested, "Type")
        if ntype == "AWS::CloudFormation::Stack" and len(parts) == 2:
            url = get(get(nested, "Properties"), "TemplateURL")
            return Patch(
                "manual",
                fmt,
                f"{at}: {expression(node)}: output {parts[1].removeprefix('Outputs.')} of nested stack {parts[0]}",
                notes=(
                    f"change that output in the nested stack's template ({expression(url) if url else 'its TemplateURL'}) "
                    f"so it gives {wanted}",
                    *notes,
                ),
            )
    what = {
        "Fn::If": "the subnets depend on a condition: change the branch the stack's conditions pick",
        "Ref": "the subnets come from a resource or pseudo parameter of the stack",
    }.get(name, f"the subnets come from {name}")
    return Patch(
        "manual", fmt, f"{at}: {expression(node)}", notes=(f"{what}; it must give {wanted}", *notes)
    )


def _import(
    fmt: Format, at: str, node: yaml.Node, export: str, wanted: str, notes: tuple[str, ...]
) -> Patch:
    return Patch(
        "manual",
        fmt,
        f"{at}: {expression(node)}",
        export=export,
        notes=(
            f"the subnets come from the export '{export}' of another stack: change the output "
            f"that exports it so it gives {wanted} (an export in use cannot be changed in place: "
            "add a new export, move the importers, then remove the old one)",
            *notes,
        ),
    )


def _parameters(
    template: Template, param: str, new_value: str, at: str, notes: tuple[str, ...]
) -> Patch:
    others = tuple(k for k in keys(get(template.root, "Parameters")) if k != param)
    return Patch(
        "parameters",
        template.format,
        f"{at}: parameter {param}",
        parameters={param: new_value},
        keep=others,
        notes=notes,
    )


# --------------------------------------------------------------------------
# Text edits


def _quote(item: str, style: str | None, fmt: Format) -> str:
    if fmt == "json" or style == '"':
        return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "'":
        return "'" + item.replace("'", "''") + "'"
    return item


def edit_list(text: str, node: yaml.SequenceNode, subnet_ids: Sequence[str], fmt: Format) -> str:
    """``text`` with the literal list ``node`` holding ``subnet_ids``: the
    items it keeps stay as they were (their lines, their order), the others
    go, the new ones follow in the first item's quoting."""
    items: list[yaml.ScalarNode] = [i for i in node.value if isinstance(i, yaml.ScalarNode)]
    old = [str(i.value) for i in items]
    kept = [i for i in items if i.value in subnet_ids]
    added = [s for s in subnet_ids if s not in old]
    style = items[0].style
    lines_of = {i.start_mark.line for i in items}
    one_line_each = len(lines_of) == len(items) and node.start_mark.line not in lines_of
    if node.flow_style and not one_line_each:
        joined = ", ".join(
            [text[i.start_mark.index : i.end_mark.index] for i in kept]
            + [_quote(s, style, fmt) for s in added]
        )
        return text[: node.start_mark.index] + "[" + joined + "]" + text[node.end_mark.index :]
    lines = text.splitlines(keepends=True)
    first, last = items[0].start_mark.line, items[-1].start_mark.line
    eol = "\r\n" if lines[first].endswith("\r\n") else "\n"
    prefix = lines[first][: items[0].start_mark.column]
    if node.flow_style:
        # JSON (or a YAML flow list) with one item per line: commas between
        new_items = [text[i.start_mark.index : i.end_mark.index] for i in kept] + [
            _quote(s, style, fmt) for s in added
        ]
        body: list[str] = [
            prefix + item + ("," if n < len(new_items) - 1 else "") + eol
            for n, item in enumerate(new_items)
        ]
        # a kept line whose comma did not change keeps its bytes
        body = [_same_line(lines, kept, n, b, len(new_items)) for n, b in enumerate(body)]
    else:
        body = [lines[i.start_mark.line] for i in kept] + [
            prefix + _quote(s, style, fmt) + eol for s in added
        ]
    return "".join(lines[:first] + body + lines[last + 1 :])


def _same_line(
    lines: list[str], kept: list[yaml.ScalarNode], n: int, built: str, total: int
) -> str:
    if n >= len(kept):
        return built
    original = lines[kept[n].start_mark.line]
    had_comma = original.rstrip().endswith(",")
    wants_comma = n < total - 1
    return original if had_comma == wants_comma else built


def unified_diff(before: str, after: str, name: str) -> str:
    """A unified diff a reviewer reads in a pull request (``a/``/``b/`` paths)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )
