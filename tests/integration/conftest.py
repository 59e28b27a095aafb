"""The moto world of test_apply_flow, shared with the engine's invariant tests."""

from tests.integration.test_apply_flow import (  # noqa: F401  (fixtures)
    botocore_session,
    moto_env,
    session,
    world,
)
