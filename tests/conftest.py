"""Shared test setup: never touch a real AWS account or the developer's ~/.aws,
nor the machine's ~/.local/state (the local locks of `remediate auto`): the
suite runs in several processes at once (pytest-xdist), and so may other
checkouts on the same machine."""

from __future__ import annotations

import gzip
import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

# --------------------------------------------------------------------------
# One parse of botocore's service models per test process.
#
# Each botocore session gets its own Loader, and a Loader caches what it
# parses (the EC2 model alone is megabytes of JSON) for itself only: the CLI,
# the sandbox and the worlds make a new session for almost every test, so the
# suite parsed the same models thousands of times. Every Loader on the default
# search paths now shares one cache, as remediator already shares one loader
# across the sessions of a run (remediator.aws.session.new_loader). A loader
# with other search paths (AWS_DATA_PATH, explicit paths) keeps its own.

_SHARED_MODELS: dict[Any, Any] = {}
_loader_init = botocore.loaders.Loader.__init__


def _loader_sharing_models(self: Any, *args: Any, **kwargs: Any) -> None:
    _loader_init(self, *args, **kwargs)
    if not args and not kwargs:
        self._cache = _SHARED_MODELS


botocore.loaders.Loader.__init__ = _loader_sharing_models  # type: ignore[method-assign]

# --------------------------------------------------------------------------
# moto's EC2 images: its 44 default AMIs, not the thousands of "latest" ones.
#
# Every new moto EC2 backend (each mock_aws, each reset) loads moto's default
# AMIs and then its per-region "latest" and ECS-optimized AMI lists, an EBS
# snapshot with random ids each: a fifth of an in-process apply test's time.
# No test needs those lists; the tests that launch instances pick any Amazon
# image (or moto's ami-12c6146b), which the default list has. MOTO_AMIS_PATH
# (read when moto.ec2 is imported, so set here, before any test module) loads
# that list alone; a value already in the environment is kept.


def _default_amis_only() -> None:
    if "MOTO_AMIS_PATH" in os.environ:
        return
    spec = importlib.util.find_spec("moto")  # finds moto without importing it
    if spec is None or spec.origin is None:
        return
    packed = Path(spec.origin).parent / "ec2" / "resources" / "amis.json.gz"
    if not packed.exists():
        return
    data = gzip.decompress(packed.read_bytes())
    target = Path(tempfile.gettempdir()) / f"remediator-tests-moto-amis-{len(data)}.json"
    if not target.exists() or target.read_bytes() != data:
        partial = target.with_name(f"{target.name}.{os.getpid()}")
        partial.write_bytes(data)
        partial.replace(target)  # atomic: the other test processes read a whole file
    os.environ["MOTO_AMIS_PATH"] = str(target)


_default_amis_only()


@pytest.fixture(scope="session")
def _empty_aws_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("aws-config")
    config, credentials = folder / "config", folder / "credentials"
    config.touch()
    credentials.touch()
    return config, credentials


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, _empty_aws_files: tuple[Path, Path]) -> None:
    """Fake credentials and region, no profile or endpoint, empty AWS config files."""
    config, credentials = _empty_aws_files
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def _state_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state-home")


@pytest.fixture(autouse=True)
def _isolated_state_home(monkeypatch: pytest.MonkeyPatch, _state_home: Path) -> None:
    """``$XDG_STATE_HOME`` in this test process's temp folder (a test may set its own)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(_state_home))
