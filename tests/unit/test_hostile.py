"""Nothing hostile reaches a reader: strings from AWS or a plan file (names,
reasons, details, tags, ids) go through one sanitiser per medium. Each
hostile string is planted in every text field of a plan, then every
renderer's output is checked for what that medium must never carry.

The Mermaid diagrams are also checked by the real Mermaid parser (mermaid
under jsdom, tests/mermaid), which the test installs with ``npm ci`` on
first use; it is skipped only where node and npm are missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from remediator.planfile.model import Plan
from remediator.render import asff, report
from remediator.render.common import md_code, md_text, mermaid_label, term
from tests import lint_tools
from tests.asff_model import validate
from tests.fleet import fleet_plan

HOSTILE = [
    "\x1b]52;c;ZXZpbA==\x07clip",  # OSC 52: write the clipboard
    "\x1b[2J\x1b[31mred\x1b[0m",  # CSI: clear screen, colour
    "\x9b31mc1-csi\x9d0;title\x07",  # 8-bit CSI and OSC
    "bidi\u202etxt.exe\u2066x\u2069",  # Trojan Source overrides
    "line1\nline2\r\n- [x] fake",  # newlines and a fake checklist
    "<img src=x onerror=alert(1)><script>x</script>",
    "a | b | c",
    "`code` ``x`` ` ",
    "$LATEST and $x^2$ math",
    "[click](javascript:alert(1)) ![i](http://e/x.png) https://evil.example www.evil.example",
    '"]) --> n9["x"] %% comment',
    "x\nclick n1 call alert()\nstyle n1 fill:#f00",
    "@octocat #1 &amp; &#60;",
    "**bold** _it_ ~~s~~ # heading",
    "",
]
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def _poison(value: str) -> Plan:
    """A real plan with ``value`` in every human-facing string."""
    plan = fleet_plan(10)
    name = "fn" + value
    first = plan.functions[1].name
    functions = [
        f.model_copy(update={"name": name, "exempt_reason": value}) if f.name == first else f
        for f in plan.functions
    ]
    findings = []
    for f in plan.findings:
        evidence = tuple(e.model_copy(update={"detail": value, "route": value}) for e in f.evidence)
        update = {"title": value, "detail": value, "notes": (value,), "evidence": evidence}
        if f.function == first:
            update |= {"function": name, "qualifier": value}
        if f.manual_step:
            update["manual_step"] = value
        findings.append(f.model_copy(update=update))
    changes = [c.model_copy(update={"reason": value}) for c in plan.changes]
    return plan.model_copy(
        update={
            "functions": tuple(functions),
            "findings": tuple(findings),
            "changes": tuple(changes),
            "partition": value,
        }
    )


def _mermaid(markdown: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", markdown, flags=re.S)


_MERMAID_LINE = re.compile(
    r"flowchart LR"
    r'|    n\d+(\["[^"\n]*"\]|\("[^"\n]*"\)|\(\["[^"\n]*"\]\))'
    r'|    n\d+ (-->|-\.->)(\|"[^"\n|]*"\||\|broken\||\|planned\|)? n\d+'
    r"|    classDef (bad|ok|warn|planned) [a-z0-9:#,.\- ]+"
    r"|    class n\d+(,n\d+)* (bad|ok|warn|planned)"
)


@pytest.mark.parametrize("value", HOSTILE)
def test_text_carries_no_control_character(value: str) -> None:
    out = report.render(_poison(value), "text", width=80)
    assert not _CONTROL.search(out)
    assert "\x1b" not in out


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_carries_no_markup_from_data(value: str) -> None:
    out = report.render(_poison(value), "markdown")
    assert not _CONTROL.search(out)
    prose = re.sub(r"```mermaid\n.*?```", "", out, flags=re.S)
    prose = re.sub(r"(`+).*?\1", "", prose)  # code spans are literal
    # the only HTML is ours
    tags = set(re.findall(r"(?<!\\)<(/?[a-zA-Z][^>\s]*)", prose))
    assert tags <= {"br", "details", "summary", "/details", "/summary"}
    # outside code spans (literal), every $ is escaped: no $…$ math
    assert not re.search(r"(?<!\\)\$", prose)
    assert not re.search(r"(?<!\\)\]\(", prose)
    assert not re.search(r"(?<!\\)https?://", prose) and "www.evil" not in prose
    assert not re.search(r"@octocat|#1\b", prose)
    # every table row has as many cells as its header
    cells = None
    for line in prose.splitlines():
        if line.startswith("|"):
            n = len(re.findall(r"(?<!\\)\|", re.sub(r"`[^`]*`", "", line)))
            cells = n if cells is None else cells
            assert n == cells, line
        else:
            cells = None
    for block in _mermaid(out):
        for line in block.rstrip("\n").splitlines():
            assert _MERMAID_LINE.fullmatch(line), line


@pytest.mark.parametrize("value", HOSTILE)
def test_asff_values_are_inert_and_valid(value: str) -> None:
    items = asff.findings(_poison(value))
    assert items
    for item in items:
        assert validate(item) == []
    assert not _CONTROL.search(json.dumps(items, ensure_ascii=False).replace("\\n", ""))


@pytest.mark.parametrize("value", HOSTILE)
def test_json_keeps_the_data_and_carries_no_escape_sequence(value: str) -> None:
    """The JSON report is the plan file, byte for byte (a program reads it):
    JSON escapes every C0 character, ESC included, so no escape sequence
    can be in it, and the data round-trips exactly."""
    plan = _poison(value)
    out = report.render(plan, "json")
    assert not re.search("[\x00-\x09\x0b-\x1f]", out)
    assert Plan.model_validate_json(out) == plan


@pytest.mark.parametrize(
    ("sanitise", "value", "expected"),
    [
        (term, "\x1b]52;c;eA==\x07ok", "ok"),
        (term, "a\x1b[1;31mb", "ab"),
        (term, "a\nb\tc", "a b c"),
        (term, "x\u202ey", "xy"),
        (md_text, "$LATEST", "\\$LATEST"),
        (md_text, "<b>", "\\<b\\>"),
        (md_text, "a|b", "a\\|b"),
        (md_code, "a`b", "``a`b``"),
        (md_code, "", "-"),
        (mermaid_label, 'a"b', "a#34;b"),
        (mermaid_label, "x-->y", "x--#62;y"),
        (mermaid_label, "%%", "#37;#37;"),
    ],
)
def test_each_sanitiser(sanitise: object, value: str, expected: str) -> None:
    assert sanitise(value) == expected  # type: ignore[operator]


_MERMAID_DIR = Path(__file__).resolve().parent.parent / "mermaid"


@pytest.fixture(scope="module")
def mermaid_parser() -> Path:
    """The real Mermaid parser (tests/mermaid: mermaid + jsdom, versions pinned
    in its package-lock.json), installed with ``npm ci`` on first use (about
    10 s; CI machines reach the npm registry). Skipped only where node/npm
    are missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Mermaid parser")
    lint_tools.npm_ci(_MERMAID_DIR, "mermaid")
    return _MERMAID_DIR / "parse.mjs"


def test_mermaid_parser_accepts_every_diagram(mermaid_parser: Path) -> None:
    blocks = [b for v in HOSTILE for b in _mermaid(report.render(_poison(v), "markdown"))]
    assert blocks
    done = subprocess.run(
        ["node", str(mermaid_parser)],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=_MERMAID_DIR,
    )
    assert done.returncode == 0, done.stdout + done.stderr
