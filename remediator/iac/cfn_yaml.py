"""A CloudFormation-aware reading of template text (JSON or YAML) that keeps
every node's position, so a patch edits the text instead of re-dumping it.

PyYAML composes the node tree (``yaml.Node`` with ``start_mark``/``end_mark``
and the short-form tags ``!Ref``, ``!Sub``, ``!GetAtt``… as node tags);
``value`` turns a node into plain data with the short forms written in their
long form (``{"Ref": …}``, ``{"Fn::GetAtt": [res, attr]}``), the way
CloudFormation reads them. JSON is read by the same parser (JSON is YAML's
flow style); raw tabs, legal between JSON tokens but not in YAML, are read as
spaces (one character for one, so positions stay those of the original).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from remediator.domain.errors import BadInput

Format = Literal["json", "yaml"]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class CfnLoader(yaml.SafeLoader):
    """SafeLoader without timestamps (``AWSTemplateFormatVersion: 2010-09-09``
    stays a string, as CloudFormation reads it)."""


CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Template:
    """A template's text, format and node tree (``root`` a mapping)."""

    text: str
    format: Format
    root: yaml.MappingNode


def template_format(text: str) -> Format:
    return "json" if text.lstrip().startswith("{") else "yaml"


def read_template(text: str, source: str = "template") -> Template:
    """``text`` parsed; ``BadInput`` (one line) when it is not a template."""
    fmt = template_format(text)
    readable = text.replace("\t", " ") if fmt == "json" else text
    try:
        loader = CfnLoader(readable)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadInput(
            f"{source} is not valid {fmt.upper()}{where}.",
            hint="Pass the template CloudFormation deploys (GetTemplate).",
        ) from None
    if not isinstance(root, yaml.MappingNode):
        raise BadInput(f"{source} is not a CloudFormation template (no top-level mapping).")
    return Template(text, fmt, root)


def get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value under ``key`` of a mapping node (the last one, as YAML readers do)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    found = None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            found = v
    return found


def text_of(node: yaml.Node | None, key: str) -> str:
    """The plain text under ``key`` ("" when absent or not a scalar)."""
    found = get(node, key)
    return str(found.value) if isinstance(found, yaml.ScalarNode) else ""


def keys(node: yaml.Node | None) -> list[str]:
    if not isinstance(node, yaml.MappingNode):
        return []
    return [str(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode)]


def short_form(node: yaml.Node) -> str | None:
    """``Ref`` or ``Fn::X`` for a ``!Ref``/``!X`` tagged node, else None."""
    tag = node.tag or ""
    if not tag.startswith("!") or tag.startswith("!!"):
        return None
    name = tag[1:]
    return "Ref" if name == "Ref" else f"Fn::{name}"


def intrinsic(node: yaml.Node) -> tuple[str, yaml.Node] | None:
    """``(function, argument node)`` when ``node`` is an intrinsic function
    call, short (``!Ref x``) or long (``{"Ref": "x"}``) form."""
    name = short_form(node)
    if name is not None:
        return name, node
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key, arg = node.value[0]
        if isinstance(key, yaml.ScalarNode) and (
            key.value == "Ref" or str(key.value).startswith("Fn::")
        ):
            return str(key.value), arg
        if isinstance(key, yaml.ScalarNode) and key.value == "Condition":
            return "Condition", arg
    return None


def argument(call: tuple[str, yaml.Node]) -> Any:
    """The argument of an intrinsic call (``intrinsic``'s result) as data."""
    name, arg = call
    if short_form(arg) == name:
        return value(arg)[name]
    return value(arg)


def argument_expression(call: tuple[str, yaml.Node]) -> str:
    """The argument's source text (without the short form's tag)."""
    name, arg = call
    text = expression(arg)
    if short_form(arg) == name and arg.tag and text.startswith(arg.tag):
        return text[len(arg.tag) :].strip()
    return text


def _plain(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [value(item) for item in node.value]
    return {str(k.value): value(v) for k, v in node.value}


def value(node: yaml.Node) -> Any:
    """``node`` as data, short forms in their long form (``!GetAtt a.b`` is
    ``{"Fn::GetAtt": ["a", "b"]}``). Scalars stay strings: the patch compares
    ids, never numbers."""
    name = short_form(node)
    if name is None:
        return _plain(node)
    arg = _plain(node)
    if name == "Fn::GetAtt" and isinstance(arg, str):
        arg = arg.split(".", 1)
    return {name: arg}


def position(node: yaml.Node) -> str:
    """``line L, column C`` (1-based) where ``node`` starts."""
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


_SAFE_EXPR = re.compile(r"[^\x20-\x7e]")


def expression(node: yaml.Node, limit: int = 160) -> str:
    """The node's source text on one line (control characters dropped, cut at
    ``limit``): what a person looks for in the template."""
    text = " ".join(_source(node).split())
    text = _SAFE_EXPR.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _source(node: yaml.Node) -> str:
    buffer = node.start_mark.buffer
    if buffer is None:
        return str(value(node))
    return str(buffer[node.start_mark.index : node.end_mark.index]).rstrip("\x00")
