"""The layout rules of docs/architecture.md, checked on the source with ``ast``.

Every ``import`` and ``from … import`` of ``remediator/`` counts, at module level or
inside a function (or under ``if TYPE_CHECKING:``), relative or absolute. The rules:

- no import cycle between modules;
- boto3/botocore only under ``remediator/aws/``, typer/click only under
  ``remediator/cli/``, moto only in ``remediator/sandbox.py``;
- a package imports only the packages below it (``ALLOWED``);
- no function longer than 120 lines (``def`` line to the last line of its body),
  no module longer than 800 lines;
- a change kind's name (e.g. ``"lambda.update-vpc-config"``) is a string literal in
  exactly one module, under ``remediator/changes/``.

The checker is ``check(sources, kind_names)``: a pure function of the source texts, so
``test_checker_*`` feed it synthetic bad sources to prove each rule can fail.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "remediator"

MAX_FUNCTION_LINES = 120
MAX_MODULE_LINES = 800

# What each part of remediator may import, besides itself and the ``remediator``
# package root (which holds only ``__version__``). Keys are the first name under
# ``remediator``: a package, or a top-level module (``log``, ``sandbox``, ``__main__``).
ALLOWED: dict[str, frozenset[str]] = {
    "__main__": frozenset({"cli"}),
    "cli": frozenset(
        {
            "run",
            "render",
            "planner",
            "planfile",
            "aws",
            "changes",
            "diagnose",
            "domain",
            "iac",
            "log",
            "sandbox",
        }
    ),
    "run": frozenset(
        {"aws", "render", "planner", "planfile", "changes", "diagnose", "domain", "iac", "log"}
    ),
    "render": frozenset({"planfile", "changes", "diagnose", "domain", "iac"}),
    "planner": frozenset({"planfile", "changes", "diagnose", "domain"}),
    "planfile": frozenset({"changes", "domain"}),
    "aws": frozenset({"domain"}),
    "changes": frozenset({"domain"}),
    "diagnose": frozenset({"domain"}),
    "domain": frozenset(),
    "iac": frozenset({"domain"}),
    "sandbox": frozenset({"domain"}),
    "log": frozenset(),
}
# Narrower exceptions, one module each: render.iam reads the permissions that the
# AWS edges declare (the runner's STS/Organizations/SNS/DynamoDB calls).
ALLOWED_MODULES: dict[str, frozenset[str]] = {
    "remediator.render.iam": frozenset({"aws"}),
}

# Third-party packages confined to one place: the part of remediator (module name
# prefix) that alone may import them.
CONFINED: dict[str, tuple[str, ...]] = {
    "boto3": ("remediator.aws",),
    "botocore": ("remediator.aws",),
    "typer": ("remediator.cli",),
    "click": ("remediator.cli",),
    "moto": ("remediator.sandbox",),
    "yaml": ("remediator.iac",),
}

# Accepted exceptions to the rules, each with its reason (none today). A
# violation not listed here fails `test_no_new_violations`; an entry that no
# longer occurs fails `test_known_violations_still_occur` (delete it).
KNOWN_VIOLATIONS: frozenset[str] = frozenset()


# --------------------------------------------------------------------------
# The checker


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule; ``key`` is what ``KNOWN_VIOLATIONS`` lists."""

    key: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.key}: {self.detail}" if self.detail else self.key


def _part(module: str) -> str:
    """``remediator.run.apply`` -> ``run``; ``remediator`` -> ``""``."""
    names = module.split(".")
    return names[1] if len(names) > 1 else ""


def _imports(
    module: str, is_package: bool, tree: ast.Module, modules: Collection[str]
) -> Iterable[str]:
    """Every name ``tree`` imports, absolute. ``from X import Y`` is ``X.Y`` when
    that is a module of ``modules`` (a submodule), else ``X`` (a name defined in X)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in modules else base


def _resolve(name: str, modules: Collection[str]) -> str | None:
    """The module of remediator that ``name`` refers to (the longest known prefix)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _graph(
    sources: Mapping[str, tuple[bool, ast.Module]],
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between remediator modules, third-party top-level names imported)."""
    edges: dict[str, set[str]] = defaultdict(set)
    external: dict[str, set[str]] = defaultdict(set)
    for module, (is_package, tree) in sources.items():
        for name in _imports(module, is_package, tree, sources):
            if name == "remediator" or name.startswith("remediator."):
                target = _resolve(name, sources)
                if target is not None and target != module:
                    edges[module].add(target)
            elif name:
                external[module].add(name.split(".")[0])
    return edges, external


def _cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def _functions(tree: ast.Module) -> Iterable[tuple[str, int]]:
    """(qualified name, lines from ``def`` to the end of the body) of every function."""

    def walk(node: ast.AST, prefix: str) -> Iterable[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                assert child.end_lineno is not None
                yield name, child.end_lineno - child.lineno + 1
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    return walk(tree, "")


def _strings(tree: ast.Module) -> set[str]:
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def check(texts: Mapping[str, tuple[bool, str]], kind_names: Iterable[str]) -> list[Violation]:
    """Every rule broken by ``texts`` (module name -> (is a package, source))."""
    trees = {m: (pkg, ast.parse(src, filename=m)) for m, (pkg, src) in texts.items()}
    edges, external = _graph(trees)
    out: list[Violation] = []

    for component in _cycles(edges):
        out.append(Violation("cycle " + " ".join(component)))

    for module, names in external.items():
        for name in sorted(names):
            homes = CONFINED.get(name)
            if homes and not any(module == h or module.startswith(h + ".") for h in homes):
                out.append(Violation(f"confined {module} imports {name}", f"only {homes}"))

    for module, targets in edges.items():
        part = _part(module)
        allowed = ALLOWED.get(part, frozenset()) | ALLOWED_MODULES.get(module, frozenset())
        for target in sorted(targets):
            other = _part(target)
            if other in ("", part) or other in allowed:
                continue
            out.append(
                Violation(f"layer {module} -> {target}", f"{part or 'remediator'} -> {other}")
            )

    for module, (_, src) in texts.items():
        lines = len(src.splitlines())
        if lines > MAX_MODULE_LINES:
            out.append(Violation(f"module-length {module}", f"{lines} lines"))
        for name, length in _functions(trees[module][1]):
            if length > MAX_FUNCTION_LINES:
                out.append(Violation(f"function-length {module}:{name}", f"{length} lines"))

    holders: dict[str, list[str]] = defaultdict(list)
    wanted = set(kind_names)
    for module, (_, tree) in trees.items():
        for value in _strings(tree) & wanted:
            holders[value].append(module)
    for kind in sorted(holders):
        where = sorted(holders[kind])
        if len(where) > 1:
            out.append(Violation(f"kind-name {kind!r} in {len(where)} modules", ", ".join(where)))
        for module in where:
            if not module.startswith("remediator.changes."):
                out.append(Violation(f"kind-name {kind!r} in {module}"))
    return sorted(out)


# --------------------------------------------------------------------------
# The real tree


def _sources() -> dict[str, tuple[bool, str]]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        is_package = rel.name == "__init__"
        module = ".".join(rel.parts[:-1] if is_package else rel.parts)
        out[module] = (is_package, path.read_text(encoding="utf-8"))
    return out


def _kind_names() -> list[str]:
    """The change kinds' names, from the registry (``KINDS``: name -> spec)."""
    for module in ("remediator.changes.registry", "remediator.changes.kinds"):
        try:
            registry = importlib.import_module(module).KINDS
        except (ImportError, AttributeError):
            continue
        if isinstance(registry, Mapping):
            return sorted(registry)
        return sorted(spec.name for spec in registry)
    raise AssertionError("no change-kind registry found under remediator.changes")


@pytest.fixture(scope="module")
def violations() -> list[Violation]:
    return check(_sources(), _kind_names())


def test_no_new_violations(violations: list[Violation]) -> None:
    new = [str(v) for v in violations if v.key not in KNOWN_VIOLATIONS]
    assert not new, "layout rules broken (docs/architecture.md):\n" + "\n".join(new)


def test_known_violations_still_occur(violations: list[Violation]) -> None:
    gone = sorted(KNOWN_VIOLATIONS - {v.key for v in violations})
    assert not gone, "fixed: delete from KNOWN_VIOLATIONS:\n" + "\n".join(gone)


def test_the_checker_sees_the_whole_package() -> None:
    sources = _sources()
    assert {"remediator.cli.main", "remediator.run.plan", "remediator.domain.plan"} <= set(sources)
    edges, external = _graph({m: (p, ast.parse(s)) for m, (p, s) in sources.items()})
    # cli.plan imports run.plan inside the command: function-level imports count
    assert "remediator.run.plan" in edges["remediator.cli.plan"]
    assert "typer" in external["remediator.cli.app"]
    assert len(_kind_names()) >= 8


# --------------------------------------------------------------------------
# Each rule can fail: synthetic sources


def _keys(
    texts: dict[str, str], kinds: Iterable[str] = (), packages: Iterable[str] = ()
) -> set[str]:
    found = check({m: (m in set(packages), s) for m, s in texts.items()}, kinds)
    return {v.key for v in found}


def test_a_new_violation_in_a_known_offender_is_new() -> None:
    allowed = {"confined remediator.run.auto imports boto3"}
    keys = _keys({"remediator.run.auto": "import boto3\nimport typer\n"})
    assert keys - allowed == {"confined remediator.run.auto imports typer"}


def test_checker_finds_a_cycle_through_a_function_level_import() -> None:
    keys = _keys(
        {
            "remediator.run.a": "from remediator.run import b\n",
            "remediator.run.b": "def f():\n    from . import a\n",
        }
    )
    assert keys == {"cycle remediator.run.a remediator.run.b"}


def test_checker_resolves_relative_imports_in_packages() -> None:
    keys = _keys(
        {
            "remediator.domain": "from .plan import X\n",
            "remediator.domain.plan": "from ..cli import app\n",
            "remediator.cli": "",
        },
        packages=["remediator.domain", "remediator.cli"],
    )
    # `remediator.domain` is the package __init__: `.plan` is remediator.domain.plan
    assert keys == {"layer remediator.domain.plan -> remediator.cli"}


@pytest.mark.parametrize(
    ("module", "source", "key"),
    [
        ("remediator.run.x", "import boto3\n", "confined remediator.run.x imports boto3"),
        (
            "remediator.changes.x",
            "def f():\n    from botocore.exceptions import ClientError\n",
            "confined remediator.changes.x imports botocore",
        ),
        ("remediator.run.x", "import typer\n", "confined remediator.run.x imports typer"),
        ("remediator.render.x", "import click\n", "confined remediator.render.x imports click"),
        (
            "remediator.cli.x",
            "from moto import mock_aws\n",
            "confined remediator.cli.x imports moto",
        ),
        ("remediator.domain.x", "from remediator import planner\n", None),
        ("remediator.planfile.x", "from remediator.planner import build\n", None),
        ("remediator.aws.x", "from remediator.changes import kinds\n", None),
        ("remediator.render.report", "from remediator.aws import door\n", None),
    ],
)
def test_checker_finds_a_stray_import(module: str, source: str, key: str | None) -> None:
    texts = {module: source, "remediator.planner": "", "remediator.changes.kinds": ""}
    texts |= {"remediator.aws.door": "", "remediator.planner.build": ""}
    keys = _keys(texts)
    assert len(keys) == 1
    (found,) = keys
    if key is not None:
        assert found == key
    else:
        assert found.startswith(f"layer {module} -> ")


def test_checker_allows_what_the_layers_allow() -> None:
    keys = _keys(
        {
            "remediator.aws.door": "import boto3\nfrom botocore.config import Config\n",
            "remediator.cli.app": "import typer\nfrom remediator.run import plan\n",
            "remediator.run.plan": "from remediator import planner\nfrom remediator.aws import door\n",
            "remediator.planner": "from remediator.domain import plan\n",
            "remediator.domain.plan": "from remediator import __version__\n",
            "remediator": "__version__ = '0'\n",
            "remediator.sandbox": "def f():\n    import moto\n",
            "remediator.render.iam": "from remediator.aws import door\n",
        }
    )
    assert keys == set()


def test_checker_measures_functions_and_modules() -> None:
    def body(lines: int, indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(lines))

    # 120 lines: the `def` line and 119 of body; then one line more, in a class
    just_fits = "def fits():\n" + body(MAX_FUNCTION_LINES - 1, "    ")
    too_long = "class C:\n    def method(self):\n" + body(MAX_FUNCTION_LINES, "        ")
    keys = _keys(
        {
            "remediator.run.ok": just_fits,
            "remediator.run.bad": too_long,
            "remediator.run.big": "x = 1\n" * (MAX_MODULE_LINES + 1),
        }
    )
    assert keys == {
        "function-length remediator.run.bad:C.method",
        "module-length remediator.run.big",
    }


def test_checker_finds_a_kind_name_outside_its_module() -> None:
    kind = "ec2.create-nat-gateway"
    keys = _keys(
        {
            "remediator.changes.nat_gateway": f"NAME = {kind!r}\n",
            "remediator.render.report": f"def f(c):\n    return c.kind == {kind!r}\n",
            "remediator.planner": f"'''Docstrings may name {kind}.'''\n",
        },
        [kind],
    )
    assert keys == {
        f"kind-name {kind!r} in 2 modules",
        f"kind-name {kind!r} in remediator.render.report",
    }
