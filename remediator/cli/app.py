"""The Typer app, its shared options, logging set-up and the one error -> exit map.

Commands live in ``plan``, ``apply``, ``auto`` and ``dev`` beside this module
and are registered on ``app`` by ``remediator.cli.main``; this module imports
none of them (no cycle). Heavy modules (boto3, moto, rich) are imported
inside the commands so ``remediate --help`` stays fast.

Exit codes: 0 success / no changes, 1 error, 2 changes present (with
``--detailed-exitcode``), 3-5 reserved for apply (stale plan, rolled back,
rollback incomplete). Usage errors exit 1, not click's usual 2, because 2
means "changes present" to pipelines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from remediator.domain.errors import RemediatorError
from remediator.domain.outcomes import EXIT_ERROR

if TYPE_CHECKING:
    from remediator.planfile.model import Plan

try:  # typer >= 0.26 carries its own copy of click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as _click_exceptions  # type: ignore[no-redef]

# Exit 2 is "changes present"; a usage error must not look like that.
_click_exceptions.UsageError.exit_code = EXIT_ERROR

app = typer.Typer(
    name="remediate",
    help="Find Lambda functions whose VPC networking breaks their outbound calls, and plan safe fixes.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # plain click output: a usage error is one "Error: …" line like every
    # other error, not a box that wraps over several lines
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from remediator import __version__

        typer.echo(f"remediate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print remediate's version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    # the options every command shares are on the commands; this is only --version
    return None


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"
    asff = "asff"


def _render(plan: Plan, fmt: Format) -> str:
    """The report for ``fmt``: ASFF findings come from ``asff``, the rest from ``report``."""
    if fmt is Format.asff:
        from remediator.render import asff

        return asff.render(plan)
    from remediator.render import report

    return report.render(plan, fmt.value, color=fmt is Format.text and _use_color())


def _use_color() -> bool:
    """Colour the text report only for a person at a terminal: stdout is a
    TTY, ``NO_COLOR`` is unset (https://no-color.org) and TERM is not dumb.
    Files, pipes and CI logs get plain text."""
    return (
        sys.stdout.isatty()
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM", "") != "dumb"
    )


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """The one place where failures become a one-line message and an exit code."""
    try:
        yield
    except RemediatorError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, _click_exceptions.ClickException):
        raise
    except RecursionError:
        if os.environ.get("REMEDIATOR_DEBUG"):
            raise
        # a reader without its own check met `[[[[…`: still bad input, not a crash
        typer.echo("Error: an input file is nested too deeply to read.", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    except OSError as exc:
        if os.environ.get("REMEDIATOR_DEBUG"):
            raise
        # the machine, not remediator: stdout on a full disk, a closed pipe…
        where = f" ({exc.filename})" if exc.filename else ""
        typer.echo(f"Error: {exc.strerror or exc}{where}.", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    except Exception as exc:
        if os.environ.get("REMEDIATOR_DEBUG"):
            raise
        typer.echo(
            f"Error: internal error ({type(exc).__name__}: {exc}). Re-run with REMEDIATOR_DEBUG=1 for the traceback and report it.",
            err=True,
        )
        raise typer.Exit(EXIT_ERROR) from None


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


RegionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--region", "-r", help="Region to read (repeatable). Default: the profile's region."
    ),
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile from ~/.aws/config.")
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", help="Send AWS calls to this URL (a sandbox). AWS_ENDPOINT_URL works too."
    ),
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        "--policy", help="Policy TOML file (the desired model). Default: built-in defaults."
    ),
]
FunctionOpt = Annotated[
    list[str] | None,
    typer.Option("--function", "-f", help="Only these functions (name or glob, repeatable)."),
]
FormatOpt = Annotated[Format, typer.Option("--format", help="Report format on stdout.")]
NetworkRoleOpt = Annotated[
    str | None,
    typer.Option(
        "--network-role-arn",
        help=(
            "Role in each shared VPC's owner account, e.g. "
            "'arn:aws:iam::{account}:role/remediator-network-read': reads what AWS RAM hides "
            "from this account (NAT gateways…). Default: the policy's network_role_arn."
        ),
    ),
]
SigningKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--signing-key",
        envvar="REMEDIATOR_SIGNING_KEY",
        help=(
            "Key that signs what this command writes and checks what it reads: "
            "file:PATH (an HMAC secret, mode 600), env:NAME (the secret in a variable) or "
            "kms:KEY_ID_OR_ARN (AWS KMS: an HMAC_256 key, or an asymmetric signing key)."
        ),
    ),
]
RequireSignatureOpt = Annotated[
    bool,
    typer.Option(
        "--require-signature",
        help="Refuse a plan or approval without a valid signature by --signing-key "
        "(the policy's require_signature = true makes it the default).",
    ),
]
LogOpt = Annotated[
    str,
    typer.Option(
        "--log-level", envvar="REMEDIATOR_LOG_LEVEL", help="debug, info, warning or error (stderr)."
    ),
]


def _setup_logging(level: str) -> None:
    from remediator import log

    if level not in log.LEVELS:
        from remediator.domain.errors import BadInput

        raise BadInput(f"--log-level {level!r} is not one of {', '.join(log.LEVELS)}.")
    log.configure(level)


@contextlib.contextmanager
def _spinner(message: str) -> Iterator[Callable[[str], None] | None]:
    """A one-line status on stderr when it is a terminal (its ``update``); nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    with Console(stderr=True).status(message) as status:
        yield status.update


def _exec_aws(profile: str | None, endpoint_url: str | None, dry_run: bool) -> Any:
    from remediator.aws import discover, door, session
    from remediator.domain.mode import mode_for

    made: Any = discover.make_session(profile)
    factory = session.client_factory(made, endpoint_url=endpoint_url, config="write")
    return made, door.Aws(factory, mode=mode_for(dry_run))


def _confirm(auto_approve: bool) -> Any:
    if auto_approve or not sys.stdin.isatty():
        return None
    return lambda question: typer.confirm(question, default=False)


def _lock(
    lock_table: str | None, session: Any, endpoint_url: str | None, plan: Plan, plan_file: Path
) -> Any:
    from remediator.aws import door
    from remediator.aws import session as sessions
    from remediator.run.lock import lock_for

    aws = None
    if lock_table:
        aws = door.Aws(sessions.client_factory(session, endpoint_url=endpoint_url))
    return lock_for(lock_table, plan_file.parent / ".locks", aws, plan.regions[0])


def _signer(
    spec: str | None, profile: str | None, endpoint_url: str | None, region: str | None
) -> Any:
    """The key of ``--signing-key`` (None without one); ``kms:`` keys are
    reached with the command's profile and endpoint."""
    if spec is None:
        return None
    from remediator.planfile import signing

    parsed = signing.parse_key_spec(spec)
    if parsed.scheme != "kms":
        return signing.hmac_key(parsed)
    from remediator.aws import discover, kms

    return kms.kms_key(discover.make_session(profile), parsed.value, region, endpoint_url)


def _trust(signer: Any, require_signature: bool, policy: Any = None) -> Any:
    """What plans and approvals are held to: ``signer`` checks, and a
    signature is required by ``--require-signature`` or the policy."""
    from remediator.planfile.signing import Trust

    required = require_signature or bool(getattr(policy, "require_signature", False))
    return Trust(signer=signer, required=required)
