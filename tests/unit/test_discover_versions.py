"""Published versions read the cheaper way (``aws.versions``), on Stubbers.

An account that keeps hundreds of versions per function makes
``ListFunctions(FunctionVersion=ALL)`` cost pages per version; once the
sample shows that, discovery stops that listing (no further page is asked
for: the Stubber's queue proves it), lists ``$LATEST`` only and reads the
versions the aliases run. A listing with few versions per function is read
to its end as before.
"""

from __future__ import annotations

from typing import Any

import pytest

from remediator.aws import versions
from tests.unit.test_discover_stubber import (
    SG,
    Stubs,
    _discover,
    _fn,
    _identity,
    _network,
    _subnet,
)

REGION = "us-east-1"
PUBLIC = "subnet-0pub"


def _page(index: int, entries: list[dict[str, Any]], last: bool, **params: Any) -> tuple:
    request = dict(params)
    if index:
        request["Marker"] = f"m-{index}"
    response: dict[str, Any] = {"Functions": entries}
    if not last:
        response["NextMarker"] = f"m-{index + 1}"
    return response, request


@pytest.fixture
def stubs() -> Stubs:
    return Stubs()


@pytest.fixture
def small_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    # judged after 6 entries, switching above 2 entries per function
    monkeypatch.setattr(versions, "SAMPLE_ENTRIES", 6)
    monkeypatch.setattr(versions, "SWITCH_VERSIONS_PER_FUNCTION", 2)


def _vpc(version: str = "$LATEST", name: str = "alpha") -> dict[str, Any]:
    return _fn(name, [PUBLIC], [SG], version=version)


def test_many_versions_per_function_switch_to_reading_by_alias(
    stubs: Stubs,
    small_sample: None,
) -> None:
    _identity(stubs)
    lam = stubs.stub("lambda")
    # alpha has 7 entries ($LATEST and 1..6): the sample (6 entries, 1 function) switches
    listing = [_vpc()] + [_vpc(str(v)) for v in range(1, 7)]
    lam.add_response("list_functions", *_page(0, listing[:4], False, FunctionVersion="ALL"))
    lam.add_response("list_functions", *_page(1, listing[4:], False, FunctionVersion="ALL"))
    # no third ALL page: the $LATEST-only listing comes next
    lam.add_response("list_functions", *_page(0, [_vpc(), _fn("plain")], True))
    lam.add_response(
        "list_aliases",
        {
            "Aliases": [
                {
                    "Name": "live",
                    "AliasArn": f"arn:aws:lambda:{REGION}:123456789012:function:alpha:live",
                    "FunctionVersion": "5",
                    "RoutingConfig": {"AdditionalVersionWeights": {"6": 0.1}},
                }
            ]
        },
        {"FunctionName": "alpha"},
    )
    lam.add_response(
        "get_function_configuration", _vpc("5"), {"FunctionName": "alpha", "Qualifier": "5"}
    )
    lam.add_response(
        "get_function_configuration", _vpc("6"), {"FunctionName": "alpha", "Qualifier": "6"}
    )
    lam.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "plain"})
    _network(
        stubs, used_subnets=[PUBLIC], subnets=[{**_subnet(PUBLIC), "MapPublicIpOnLaunch": True}]
    )

    inventory = _discover(stubs)

    calls = inventory.api_calls
    assert calls["lambda:ListFunctions"] == 3
    assert calls["lambda:ListAliases"] == 2
    assert calls["lambda:GetFunctionConfiguration"] == 2
    alpha = next(f for f in inventory.regions[0].functions if f.name == "alpha")
    assert [v.version for v in alpha.versions] == ["5", "6"]
    assert [a.name for a in alpha.aliases] == ["live"]
    assert alpha.details_loaded


def test_few_versions_per_function_keep_the_whole_listing(
    stubs: Stubs,
    small_sample: None,
) -> None:
    _identity(stubs)
    lam = stubs.stub("lambda")
    listing = [_vpc(name=f"fn{i}") for i in range(5)] + [_vpc("1", name="fn0"), _fn("plain")]
    lam.add_response("list_functions", *_page(0, listing[:4], False, FunctionVersion="ALL"))
    lam.add_response("list_functions", *_page(1, listing[4:], True, FunctionVersion="ALL"))
    lam.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "fn0"})
    _network(
        stubs, used_subnets=[PUBLIC], subnets=[{**_subnet(PUBLIC), "MapPublicIpOnLaunch": True}]
    )

    inventory = _discover(stubs)

    assert inventory.api_calls["lambda:ListFunctions"] == 2
    assert "lambda:GetFunctionConfiguration" not in inventory.api_calls
    fn0 = next(f for f in inventory.regions[0].functions if f.name == "fn0")
    assert [v.version for v in fn0.versions] == ["1"]


def test_the_documented_costs() -> None:
    # the module's docstring: 2,000 functions with 300 versions each
    functions, per_function = 2000, 300
    listed = functions * (per_function + 1) // 50
    by_alias = functions // 50 + functions * 2
    assert (listed, by_alias) == (12040, 4040)
    assert f"{listed:,} pages" in (versions.__doc__ or "")
    assert f"{by_alias:,}" in (versions.__doc__ or "")
    # past the switch point each function costs more listed than by alias
    assert versions.SWITCH_VERSIONS_PER_FUNCTION / 50 >= 2


def test_versions_read_listed_never_switches(stubs: Stubs, small_sample: None) -> None:
    _identity(stubs)
    lam = stubs.stub("lambda")
    listing = [_vpc()] + [_vpc(str(v)) for v in range(1, 7)]
    lam.add_response("list_functions", *_page(0, listing[:4], False, FunctionVersion="ALL"))
    lam.add_response("list_functions", *_page(1, listing[4:], True, FunctionVersion="ALL"))
    lam.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "alpha"})
    _network(
        stubs, used_subnets=[PUBLIC], subnets=[{**_subnet(PUBLIC), "MapPublicIpOnLaunch": True}]
    )
    inventory = _discover(stubs, versions_read="listed")
    assert inventory.api_calls["lambda:ListFunctions"] == 2
    alpha = inventory.regions[0].functions[0]
    assert [v.version for v in alpha.versions] == [str(v) for v in range(1, 7)]


def test_versions_read_by_alias_never_lists_every_version(stubs: Stubs) -> None:
    _identity(stubs)
    lam = stubs.stub("lambda")
    lam.add_response("list_functions", *_page(0, [_vpc()], True))
    lam.add_response("list_aliases", {"Aliases": []}, {"FunctionName": "alpha"})
    _network(
        stubs, used_subnets=[PUBLIC], subnets=[{**_subnet(PUBLIC), "MapPublicIpOnLaunch": True}]
    )
    inventory = _discover(stubs, versions_read="by-alias")
    assert inventory.api_calls["lambda:ListFunctions"] == 1
    assert inventory.regions[0].functions[0].details_loaded
