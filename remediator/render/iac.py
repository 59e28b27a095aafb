"""The template patches in a Markdown review: per stack, what
``remediate iac-patch`` wrote (its index, ``iac-patch.json``) and the diff a
reviewer reads, per function what to change by hand and where (docs/iac.md).

Every string of the index and every diff line is untrusted (it comes from
a template and from stack names): text goes through ``md_text``/``md_code``,
and a diff sits in a fence longer than any backtick run inside it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from remediator.render.common import md_code, md_text, term

DIFF_MAX = 6_000
"""Characters of one diff shown in a review; the rest is in its file."""


def _fence(text: str) -> str:
    runs = [len(r) for r in re.findall(r"`{3,}", text)]
    return "`" * max(3, max(runs, default=0) + 1)


def _diff_block(text: str, name: str) -> list[str]:
    body = "\n".join(term(line) for line in text.splitlines())
    if len(body) > DIFF_MAX:
        body = body[:DIFF_MAX].rsplit("\n", 1)[0] + f"\n… (cut: see {term(name)})"
    fence = _fence(body)
    return [f"{fence}diff", body, fence]


def _function(fn: Mapping[str, Any]) -> list[str]:
    result = str(fn.get("result", ""))
    head = f"- {md_code(fn.get('function', ''))}"
    if fn.get("logical_id"):
        head += f" (logical id {md_code(fn['logical_id'])})"
    head += f": {md_text(result)}"
    out = [head]
    if fn.get("error"):
        out.append(f"  - Error: {md_text(fn['error'])}")
    if fn.get("where"):
        out.append(f"  - Where: {md_code(fn['where'])}")
    if fn.get("export"):
        out.append(f"  - Export to change: {md_code(fn['export'])}")
    for name, new in sorted(dict(fn.get("parameters") or {}).items()):
        out.append(f"  - Parameter {md_code(name)} = {md_code(new)}")
    out += [f"  - {md_text(note, line_start=True)}" for note in fn.get("notes") or ()]
    return out


def iac_section(index: Mapping[str, Any], diffs: Mapping[str, str]) -> str:
    """``## Template patches`` for ``index``; ``diffs``: file name -> diff text."""
    stacks = list(index.get("stacks") or [])
    terraform = list(index.get("terraform") or [])
    if not stacks and not terraform:
        return ""
    out = ["", "## Template patches", ""]
    out.append(
        "The fix of each owned function, written where its owner defines it: review the "
        "diff in a pull request and deploy it, so the next deploy keeps the fix."
    )
    out.append("")
    for stack in stacks:
        out.append(
            f"### Stack {md_code(stack.get('stack', ''))} ({md_text(stack.get('region', ''))})"
        )
        out.append("")
        files = [str(f) for f in stack.get("files") or []]
        out.append("Files: " + (", ".join(md_code(f) for f in files) or "none (see below)"))
        out.append("")
        for fn in stack.get("functions") or []:
            out += _function(fn)
        out.append("")
        for name in files:
            if name.endswith(".diff") and name in diffs:
                out += _diff_block(diffs[name], name)
                out.append("")
    if terraform:
        out += ["### Terraform", ""]
        for fn in terraform:
            out += _function(fn)
        out.append("")
    return "\n".join(out)
