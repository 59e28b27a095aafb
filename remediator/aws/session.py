"""Sessions, credentials and the one client factory.

* ``make_session``: the runner's session on the standard credential chain
  (optionally a named profile);
* ``member_session``: a new session per target, on assumed-role credentials
  that refresh themselves before they expire (``refreshing``), sharing the
  run's service-model loader (``new_loader``: the models are parsed once per
  run, not once per target);
* ``ClientCache``: a session whose clients are made once per settings;
* ``client_factory``: ``(service, region) -> client`` for a session, an
  endpoint URL and one of the two client configs: ``READ`` (discovery and
  the fleet: botocore's adaptive retries) or ``WRITE`` (apply and rollback:
  one attempt per botocore call, the door retries).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, Literal

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import BotoCoreError, InvalidRegionError, ProfileNotFound

from remediator import __version__
from remediator.aws.errors import one_line, profile_not_found
from remediator.domain import errors

ClientFactory = Callable[[str, str], Any]
"""``(service, region) -> boto3 client``; lets tests inject stubbed clients."""

ConfigName = Literal["read", "write"]

MAX_ATTEMPTS = 10
CONNECT_ATTEMPTS = 2
CONNECT_TIMEOUT_SECONDS = 5


def make_session(profile: str | None = None) -> boto3.session.Session:
    """A boto3 session on the standard credential chain (optionally a named profile).

    The region comes, as the AWS CLI v2 and the other SDKs take it, from
    ``AWS_REGION`` first (the only one the Lambda and ECS runtimes set; boto3
    itself reads only ``AWS_DEFAULT_REGION``), then ``AWS_DEFAULT_REGION``,
    then the profile; a command's ``--region`` wins over all of them.
    Raises ``errors.BadInput`` when the profile does not exist.
    """
    try:
        return boto3.session.Session(
            profile_name=profile, region_name=os.environ.get("AWS_REGION") or None
        )
    except ProfileNotFound as exc:
        raise profile_not_found(exc, profile) from exc


def static_session(region: str, access_key: str = "", secret_key: str = "") -> Any:
    """A session on fixed keys (or the environment's, when none are given):
    the sandbox's."""
    if access_key:
        return boto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
    return boto3.Session(region_name=region)


def client_config() -> Config:
    """Discovery's and the fleet's: botocore's adaptive retries (10 attempts)
    absorb Lambda's control-plane throttling; a connection attempt is bounded
    by CONNECT_TIMEOUT_SECONDS (see ``remediator.aws.discover``)."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        user_agent_extra=f"remediator/{__version__}",
    )


def executor_config() -> Config:
    """Apply's and rollback's. One attempt per botocore call: the door's own
    loop retries, with a cap and backoff it controls (botocore's 3 attempts are
    not enough for Lambda's control plane) and a sleep tests can inject."""
    return Config(
        retries={"mode": "standard", "max_attempts": 1},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra=f"remediator/{__version__}",
    )


CONFIGS: dict[ConfigName, Callable[[], Config]] = {"read": client_config, "write": executor_config}


def check_endpoint(endpoint_url: str) -> None:
    """What botocore accepts when it makes a client but fails on at the first
    call (a port out of range, a scheme it cannot send to) is ``BadInput``
    up front; botocore checks the rest (``client_factory``)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(endpoint_url.strip())
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError as exc:
        why = one_line(str(exc))
    else:
        scheme = parts.scheme.lower()
        why = (
            ""
            if scheme in ("http", "https") or not parts.netloc
            else f"scheme {scheme} is not http or https"
        )
    if why:
        raise errors.BadInput(
            f"--endpoint-url {endpoint_url!r} is not a URL AWS calls can go to ({why}).",
            hint="Pass a full URL such as http://localhost:5055, or leave it out.",
        )


def client_factory(
    session: Any, *, endpoint_url: str | None = None, config: ConfigName = "read"
) -> ClientFactory:
    """The one way remediator makes a client from a session. A region name
    AWS does not know is ``BadInput``; any other failure to make the client
    is a one-line ``AwsAccessError``; an endpoint URL botocore cannot use
    (``notaurl``, ``http://[::1``) is ``BadInput``."""
    made = CONFIGS[config]()

    def make(service: str, region: str) -> Any:
        if endpoint_url is not None:
            check_endpoint(endpoint_url)
        try:
            return session.client(
                service, region_name=region, endpoint_url=endpoint_url, config=made
            )
        except InvalidRegionError as exc:
            raise errors.BadInput(
                f"'{region}' is not a valid AWS region name.",
                hint="Pass a region such as us-east-1 (see `aws ec2 describe-regions`).",
            ) from exc
        except ProfileNotFound as exc:
            raise profile_not_found(exc, None) from exc
        except ValueError as exc:  # botocore's own check of the endpoint URL
            if endpoint_url is None:
                raise
            raise errors.BadInput(
                f"--endpoint-url {endpoint_url!r} is not a URL AWS calls can go to ({one_line(str(exc))}).",
                hint="Pass a full URL such as http://localhost:5055, or leave it out.",
            ) from exc
        except BotoCoreError as exc:
            raise errors.AwsAccessError(
                f"Cannot create the AWS {service} client for {region}: {one_line(str(exc))}",
                hint="Check the AWS configuration (profile, region, endpoint URL).",
            ) from exc

    return make


# --------------------------------------------------------------------------
# Member sessions on assumed-role credentials


class _StaticProvider(CredentialProvider):
    METHOD = "remediator-assume-role"
    CANONICAL_NAME = "remediator-assume-role"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def new_loader() -> Any:
    """A service-model loader to share across a run's sessions."""
    return botocore.loaders.create_loader()


def member_session(loader: Any, profile: str | None = None, credentials: Any = None) -> Any:
    """A new boto3 session for one target (sessions are not shared across
    threads) on ``credentials`` (else the profile's chain). ``loader`` is the
    run's service-model loader."""
    core = botocore.session.Session(profile=profile)
    core.register_component("data_loader", loader)
    if credentials is not None:
        provider = _StaticProvider(credentials)
        core.get_component("credential_provider").insert_before("env", provider)
    return boto3.session.Session(botocore_session=core)


def refreshing(fetch: Callable[[], dict[str, Any]]) -> Any:
    """Credentials from ``fetch`` (access_key, secret_key, token, expiry_time),
    fetched again by botocore before they expire."""
    return RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="remediator-assume-role"
    )


class ClientCache:
    """A target's session whose clients are made once per (service, region,
    endpoint, settings). Discovery runs up to three times per target (plan,
    verify, plan again) and would otherwise build every client anew each time
    (tens of milliseconds of CPU each). Used by one worker at a time."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._clients: dict[tuple[Any, ...], Any] = {}

    @property
    def region_name(self) -> str | None:
        return self._session.region_name  # type: ignore[no-any-return]

    @property
    def events(self) -> Any:
        return self._session.events

    def client(self, service: str, **kwargs: Any) -> Any:
        config = kwargs.get("config")
        settings = (
            None
            if config is None
            else (
                tuple(sorted((config.retries or {}).items())),
                config.connect_timeout,
                config.read_timeout,
            )
        )
        key = (service, kwargs.get("region_name"), kwargs.get("endpoint_url"), settings)
        if key not in self._clients:
            self._clients[key] = self._session.client(service, **kwargs)
        return self._clients[key]

    def close(self) -> None:
        """Close the clients made so far (their connections) and forget them;
        a later ``client`` makes a new one. A fleet run closes a target's
        clients once the target is done, so its connections and memory do
        not outlive it (50 targets' clients held to the end of a run are
        some 180 MB and seconds of teardown at exit)."""
        clients, self._clients = self._clients, {}
        for client in clients.values():
            with contextlib.suppress(Exception):  # closing is best effort
                client.close()
