"""Shell completion: `remediate --show-completion SHELL` prints a script for
that shell, and the script's protocol completes commands and options."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from remediator.cli.main import app


@pytest.mark.parametrize(
    ("shell", "marks"),
    [
        ("bash", ("complete -o default -F _remediate_completion remediate", "complete_bash")),
        ("zsh", ("#compdef remediate", "complete_zsh")),
        ("fish", ("complete --command remediate", "complete_fish")),
    ],
)
def test_show_completion_prints_the_script_for_the_shell_named(
    monkeypatch: pytest.MonkeyPatch, shell: str, marks: tuple[str, ...]
) -> None:
    # the shell is the one named, not the one typer would detect around the test
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = CliRunner().invoke(app, ["--show-completion", shell], prog_name="remediate")
    assert result.exit_code == 0, result.output
    for mark in marks:
        assert mark in result.stdout, (shell, mark, result.stdout)
    assert "_REMEDIATE_COMPLETE" in result.stdout


def test_help_lists_the_completion_options() -> None:
    result = CliRunner().invoke(app, ["--help"], prog_name="remediate")
    assert result.exit_code == 0
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("remediate un", "1", "unlock"),
        ("remediate unlock --fo", "2", "--force"),
        ("remediate apply --dry", "2", "--dry-run"),
    ],
)
def test_the_completion_protocol_completes_commands_and_options(
    words: str, cword: str, expected: str
) -> None:
    env = {
        **os.environ,
        "_REMEDIATE_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": cword,
    }
    script = "import sys; sys.argv[0] = 'remediate'; from remediator.cli.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout.split(), done.stdout
