"""The command line: the only importer of typer (and click).

Rule: parses arguments, calls ``remediator.run`` (and planfile, render, sandbox), and
maps errors to exit codes in one place (``remediator.cli.app._errors``). It owns no
step of the flow. ``app`` holds the Typer app and the shared options; ``plan``,
``apply``, ``auto`` and ``dev`` the commands; ``main`` registers them (the console
script ``remediate`` is ``remediator.cli.main:main``).
"""
