"""How discovery reads published versions: the cheaper of two reads.

A published version keeps the VpcConfig it was published with, and an alias
that runs it runs that config; discovery needs the configs of the versions
aliases run, nothing more (``diagnose.findings._alias_findings``).

* **The whole listing** (``ListFunctions`` with ``FunctionVersion=ALL``):
  every version of every function, 50 entries a page, with its VpcConfig.
  It costs ``(functions + versions) / 50`` calls: for most accounts about
  one page per 50 functions, and it lets discovery send ``ListAliases`` only
  where a config is broken (``diagnose.alias_reads``).
* **By alias**: ``ListFunctions`` (``$LATEST`` only, 50 a page), then per
  function ``ListAliases`` and one ``GetFunctionConfiguration`` (with the
  version as ``Qualifier``) per version an alias runs. It costs about
  ``functions / 50 + functions x (1 + versions aliased)`` calls, whatever
  the number of versions.

An account that keeps every version (the Serverless Framework's default;
hundreds per function are common) makes the whole listing the dearer:
at 2,000 functions with 300 versions each it is 12,040 pages, about 13
minutes at Lambda's 15 control-plane requests a second, against 4,040
calls by alias (one alias on one version each), about 4.5 minutes. The listing is therefore started as the whole one
and judged as it is read: once ``SAMPLE_ENTRIES`` entries have been read, if
they hold more than ``SWITCH_VERSIONS_PER_FUNCTION`` entries per function,
the rest of the listing would cost more than reading by alias (each
function costs ``versions / 50`` calls listed, about 2 by alias), and
discovery switches: it lists ``$LATEST`` only and reads by alias. The
sample is at most 20 pages, so the switch costs at most that much.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from remediator.aws.door import Aws

LATEST = "$LATEST"
SAMPLE_ENTRIES = 1000
SWITCH_VERSIONS_PER_FUNCTION = 100


def list_functions(
    aws: Aws, region: str, read: str = "auto"
) -> tuple[list[Mapping[str, Any]], bool]:
    """The region's ``ListFunctions`` entries, and whether its versions are
    to be read by alias (``True``: the entries are ``$LATEST`` only).
    ``read``: the policy's ``versions_read`` ("auto", "listed", "by-alias")."""
    if read == "by-alias":
        return list(aws.items("lambda", region, "list_functions", "Functions")), True
    entries: list[Mapping[str, Any]] = []
    names: set[str] = set()
    listing: Iterator[Mapping[str, Any]] = aws.items(
        "lambda", region, "list_functions", "Functions", FunctionVersion="ALL"
    )
    for entry in listing:
        entries.append(entry)
        names.add(str(entry.get("FunctionName", "")))
        sampled = len(entries) >= SAMPLE_ENTRIES
        if read == "auto" and sampled and len(entries) > SWITCH_VERSIONS_PER_FUNCTION * len(names):
            break
    else:
        return entries, False
    return list(aws.items("lambda", region, "list_functions", "Functions")), True


def by_alias(
    aws: Aws, region: str, name: str
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """A function's aliases and the entries of the published versions they
    run (``GetFunctionConfiguration`` with the version as ``Qualifier``,
    each version once)."""
    aliases: list[Mapping[str, Any]] = list(
        aws.items("lambda", region, "list_aliases", "Aliases", FunctionName=name)
    )
    wanted: list[str] = []
    for alias in aliases:
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        for version in (str(alias.get("FunctionVersion", LATEST)), *map(str, weights)):
            if version != LATEST and version not in wanted:
                wanted.append(version)
    versions: list[Mapping[str, Any]] = [
        aws.call("lambda", region, "get_function_configuration", FunctionName=name, Qualifier=v)
        for v in wanted
    ]
    return aliases, versions
