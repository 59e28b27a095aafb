"""``remediate iac-patch`` and ``auto``'s patch artifacts: the fix of each
owned function written into its owner's source (docs/iac.md).

For every CloudFormation stack that owns a function the plan fixes (a
finding with ``patch_subnet_ids``), read the stack's original template
(``aws.cloudformation.get_template``), patch it (``iac.patch``) for each of
its functions, and write into the output folder:

- ``<stack>.template.json``/``.yaml`` (the format of the original) and
  ``<stack>.diff`` when the template changes;
- ``<stack>.parameters.json`` when a parameter changes: the
  ``--parameters`` file of ``aws cloudformation update-stack
  --use-previous-template`` / ``create-change-set`` (every other parameter
  ``UsePreviousValue``);
- ``iac-patch.json``, the index: per stack its files, per function what was
  done or what to change by hand and where (the export, the expression).

Terraform-owned functions get an index entry saying what ``vpc_config`` to
write. Stack names are untrusted: file names are made safe
(``safe_name``). A stack whose template cannot be read is reported in the
index, the others still written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from remediator.domain.errors import RemediatorError
from remediator.domain.owner import Owner
from remediator.iac.cfn_yaml import template_format
from remediator.iac.patch import Patch, patch_template, unified_diff
from remediator.planfile import atomic_write
from remediator.planfile.model import Plan

log = structlog.get_logger(__name__)

INDEX = "iac-patch.json"
AUTO_DIR = "iac"
"""Where ``auto`` (and ``event``) write the patches, beside each target's plan."""
GetTemplate = Callable[[str, str], str]
"""(region, stack name or id) -> the original template text."""


@dataclass
class Target:
    """One owned function and the subnets its source should hold."""

    region: str
    function: str
    owner: Owner
    subnet_ids: tuple[str, ...]
    finding_ids: list[str] = field(default_factory=list)


def targets(plan: Plan) -> list[Target]:
    """The owned functions of ``plan`` with a subnet fix, sorted."""
    out: dict[tuple[str, str], Target] = {}
    for f in plan.findings:
        if f.owner is None or not f.patch_subnet_ids or f.qualifier != "$LATEST":
            continue
        key = (f.region, f.function_arn)
        target = out.setdefault(key, Target(f.region, f.function, f.owner, f.patch_subnet_ids))
        target.finding_ids.append(f.id)
    return [out[k] for k in sorted(out)]


_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


def safe_name(stack: str) -> str:
    """A file name part for an untrusted stack name: letters, digits and
    dashes only, at most 128 characters, never empty or hidden."""
    name = _UNSAFE.sub("_", stack).strip("_")[:128]
    return name or "stack"


def _function_entry(target: Target, patch: Patch | None, error: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "function": target.function,
        "region": target.region,
        "finding_ids": sorted(target.finding_ids),
        "subnet_ids": list(target.subnet_ids),
        "owner": target.owner.model_dump(mode="json"),
    }
    if target.owner.logical_id:
        entry["logical_id"] = target.owner.logical_id
    if error:
        entry.update(result="error", error=error)
    elif patch is not None:
        entry.update(result=patch.kind, where=patch.where, notes=list(patch.notes))
        if patch.export:
            entry["export"] = patch.export
        if patch.parameters:
            entry["parameters"] = dict(patch.parameters)
    return entry


def _terraform(target: Target) -> dict[str, Any]:
    entry = _function_entry(target, None)
    entry.update(
        result="manual",
        where=f"the Terraform code of {target.owner.describe()}",
        notes=[
            "set vpc_config.subnet_ids of the function's aws_lambda_function to "
            + ", ".join(target.subnet_ids)
            + "; the next terraform plan then shows no change for it"
        ],
    )
    return entry


def _parameters_file(patches: list[Patch]) -> str:
    """update-stack / create-change-set ``--parameters`` JSON."""
    changed: dict[str, str] = {}
    for p in patches:
        changed.update(p.parameters)
    keep = sorted({k for p in patches for k in p.keep} - set(changed))
    body: list[dict[str, Any]] = [
        {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(changed.items())
    ]
    body += [{"ParameterKey": k, "UsePreviousValue": True} for k in keep]
    return json.dumps(body, indent=2) + "\n"


def _one_stack(
    out_dir: Path, stem: str, stack: str, region: str, text: str, members: list[Target]
) -> dict[str, Any]:
    """Patch ``text`` for every function of the stack; write its files."""
    current = text
    entries, params = [], []
    for target in members:
        try:
            patch = patch_template(current, target.owner.logical_id or "", target.subnet_ids)
        except RemediatorError as exc:
            entries.append(_function_entry(target, None, exc.message))
            continue
        entries.append(_function_entry(target, patch))
        if patch.kind == "template" and patch.text is not None:
            current = patch.text
        elif patch.kind == "parameters":
            params.append(patch)
    files: list[str] = []
    if current != text:
        ext = template_format(text)
        names = (f"{stem}.template.{ext}", f"{stem}.diff")
        atomic_write(out_dir / names[0], current, 0o644)
        atomic_write(
            out_dir / names[1], unified_diff(text, current, f"{stem}.template.{ext}"), 0o644
        )
        files += names
    if params:
        atomic_write(out_dir / f"{stem}.parameters.json", _parameters_file(params), 0o644)
        files.append(f"{stem}.parameters.json")
    return {"stack": stack, "region": region, "files": files, "functions": entries}


def _name_of(stack_id: str) -> str:
    """``arn:…:stack/NAME/uuid`` -> ``NAME`` (the id itself when it is not one)."""
    parts = stack_id.split("/")
    return parts[1] if len(parts) == 3 else stack_id


def template_reader(aws: Any) -> GetTemplate:
    """``GetTemplate`` through ``aws`` (a read-only ``aws.door.Aws``)."""
    from remediator.aws.cloudformation import get_template

    return lambda region, stack: get_template(aws, region, stack)


def summary_lines(index: dict[str, Any]) -> list[str]:
    """What ``write_patches`` did, for a terminal (untrusted names made safe)."""
    from remediator.render.common import term

    lines = []
    for stack in index["stacks"]:
        files = ", ".join(stack["files"]) or "no file"
        lines.append(f"stack {term(stack['stack'])} ({term(stack['region'])}): {term(files)}")
        lines += [_function_line(fn, term) for fn in stack["functions"]]
    for fn in index["terraform"]:
        lines.append(_function_line(fn, term))
    return lines or ["No owned function in the plan has a subnet fix to patch."]


def _function_line(fn: dict[str, Any], term: Callable[[object], str]) -> str:
    head = f"  {term(fn['function'])}: {term(fn.get('result', ''))}"
    if fn.get("error"):
        return f"{head}: {term(fn['error'])}"
    more = [term(fn.get("where", ""))]
    if fn.get("export"):
        more.append(f"export {term(fn['export'])}")
    more += [term(n) for n in fn.get("notes", ())]
    return head + " - " + "; ".join(m for m in more if m)


def write_patches(plan: Plan, get_template: GetTemplate, out_dir: Path) -> dict[str, Any]:
    """Write the patches of ``plan``'s owned functions into ``out_dir``;
    return the index (also written as ``INDEX``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_stack: dict[tuple[str, str], list[Target]] = {}
    terraform = []
    for target in targets(plan):
        owner = target.owner
        if owner.kind == "terraform":
            terraform.append(_terraform(target))
            continue
        stack = owner.stack_id or owner.stack_name or ""
        by_stack.setdefault((target.region, stack), []).append(target)
    stacks, used = [], set()
    for (region, stack), members in sorted(by_stack.items()):
        name = members[0].owner.stack_name or _name_of(stack)
        stem = safe_name(name)
        if stem in used:
            stem = f"{stem}-{safe_name(region)}"
        used.add(stem)
        try:
            text = get_template(region, stack)
        except RemediatorError as exc:
            log.warning("template_unreadable", stack=stem, region=region, error=exc.message)
            stacks.append(
                {
                    "stack": name,
                    "region": region,
                    "files": [],
                    "functions": [_function_entry(t, None, exc.message) for t in members],
                }
            )
            continue
        stacks.append(_one_stack(out_dir, stem, name, region, text, members))
        log.info("template_patched", stack=stem, region=region, files=len(stacks[-1]["files"]))
    index = {"plan_id": plan.plan_id, "stacks": stacks, "terraform": terraform}
    atomic_write(out_dir / INDEX, json.dumps(index, indent=2, sort_keys=True) + "\n", 0o644)
    return index


def read_index(out_dir: Path) -> dict[str, Any] | None:
    """The index an earlier ``write_patches`` left in ``out_dir`` (None: none)."""
    path = out_dir / INDEX
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


REVIEW_MAX = 20_000
"""Characters of patches a fitting review shows; past it, where they are."""


def review_section(out_dir: Path, limit: int | None = REVIEW_MAX) -> str:
    """The Markdown section of the patches in ``out_dir`` ("" when none);
    past ``limit`` characters (None: no limit), a pointer to the folder."""
    from remediator.render.iac import iac_section

    index = read_index(out_dir)
    if index is None:
        return ""
    diffs: dict[str, str] = {}
    for stack in index.get("stacks") or []:
        for name in stack.get("files") or []:
            path = out_dir / str(name)
            if str(name).endswith(".diff") and path.parent == out_dir and path.is_file():
                diffs[str(name)] = path.read_text(encoding="utf-8", errors="replace")
    section = iac_section(index, diffs)
    if limit is not None and len(section) > limit:
        section = iac_section(index, {})
    if limit is not None and len(section) > limit:
        count = len(index.get("stacks") or []) + len(index.get("terraform") or [])
        section = (
            f"\n## Template patches\n\n{count} stack(s) and function(s) to patch: too long to "
            f"show here; see {INDEX} and the diffs beside it.\n"
        )
    return section


def write_beside(plan: Plan, session: Any, endpoint_url: str | None, folder: Path) -> None:
    """``auto``'s patch artifacts: ``folder/iac/`` for the plan's owned
    functions (nothing when there are none). A failure is logged, never
    fails the target: the plan and its review are written either way."""
    if not targets(plan):
        return
    from remediator.aws import door
    from remediator.aws import session as sessions

    try:
        factory = sessions.client_factory(session, endpoint_url=endpoint_url, config="write")
        aws = door.Aws(factory, mode="check")
        write_patches(plan, template_reader(aws), folder / AUTO_DIR)
    except (RemediatorError, OSError) as exc:
        log.warning("iac_patch_failed", error=str(exc))
