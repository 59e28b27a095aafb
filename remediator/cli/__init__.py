"""The command line: the only importer of typer.

Rule: parses arguments, calls ``remediator.run``, and maps errors to exit codes in one place
(``remediator.cli.app``).
"""
