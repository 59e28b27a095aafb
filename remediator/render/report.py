"""Render a plan for people: text (ANSI colours on request, ``text``),
Markdown (pull requests, change tickets, with Mermaid diagrams, ``markdown``)
or canonical JSON. ``render(plan, fmt)`` is the one entry point.

Rendering is a pure function of the plan: no clock, no environment, no
terminal probing (the caller says whether it wants colour), so the same plan
always renders to the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from remediator.domain.errors import BadInput
from remediator.planfile.encode import canonical_json
from remediator.planfile.model import Plan
from remediator.render.common import (
    WIDTH,
    blast_summary,
    change_summary,
    closing_line,
    evidence_chain,
)
from remediator.render.markdown import DETAILS, mermaid_for_function, render_markdown
from remediator.render.text import render_text

__all__ = [
    "DETAILS",
    "FORMATS",
    "WIDTH",
    "blast_summary",
    "change_summary",
    "closing_line",
    "evidence_chain",
    "mermaid_for_function",
    "render",
    "render_json",
    "render_markdown",
    "render_text",
]

FORMATS: tuple[str, ...] = ("text", "markdown", "json")


def render_json(plan: Plan) -> str:
    """The plan as canonical JSON (sorted keys, two-space indent, trailing
    newline): the same bytes as the plan file. JSON escapes every C0
    control character (ESC included), so no terminal escape sequence can be
    in it; it is data for programs, byte for byte the plan."""
    return canonical_json(plan)


# --------------------------------------------------------------------------- dispatch

_RENDERERS: dict[str, Callable[[Plan], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}


def render(
    plan: Plan,
    fmt: str,
    *,
    color: bool = False,
    width: int = WIDTH,
    detail: str = "fit",
    plan_file: str | None = None,
) -> str:
    """Render ``plan`` as ``text`` (``width`` columns), ``markdown`` (also
    ``md``; ``detail`` ``fit`` or ``full``; ``plan_file`` is named where the
    report says where its full detail is) or ``json``."""
    key = "markdown" if fmt == "md" else fmt
    if detail not in DETAILS:
        raise BadInput(f"Unknown detail {detail!r}.", hint=f"Use one of: {', '.join(DETAILS)}.")
    if key == "text":
        return render_text(plan, color=color, width=width)
    if key == "markdown":
        return render_markdown(plan, detail=detail, plan_file=plan_file)
    renderer = _RENDERERS.get(key)
    if renderer is None:
        raise BadInput(
            f"Unknown report format {fmt!r}.",
            hint=f"Use one of: {', '.join(FORMATS)}.",
        )
    return renderer(plan)
