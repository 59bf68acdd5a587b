"""A sweep's overhead along one parameter: base vs other at each value of, say, vcpus.

Targets of a sweep are variants (`nosev@vcpus=2+memory=4G`). A profile given as --base
or --other names either the variant's base VM or its `kind` value (for sweeps that vary
the kind of one VM). Variants pair up when everything else about them is the same; each
pair is one point, compared exactly as `results compare` compares two profiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sevtui.base.errors import UsageError
from sevtui.base.sizes import parse_size
from sevtui.bench.facts import RunFacts
from sevtui.bench.results import ComparisonTable, build_comparisons
from sevtui.bench.variants import PARAMETERS, Variant, parse_name
from sevtui.store.rows import Series


@dataclass(frozen=True)
class AlongPoint:
    """Base vs other at one value of the parameter (other parameters held at `fixed`)."""

    value: str
    fixed: dict[str, str]
    table: ComparisonTable

    def to_json(self) -> dict[str, Any]:
        """One point of `compare --along --json`."""
        table = self.table
        return {
            "value": self.value,
            "fixed": self.fixed,
            "base_target": table.base,
            "other_target": table.other,
            "benchmarks": [bench.to_json() for bench in table.benchmarks],
            "categories": {name: mean.to_json() for name, mean in table.categories.items()},
            "overall": table.overall.to_json() if table.overall else None,
            "warnings": table.warnings,
        }


def _key(variant: Variant, profile: str) -> tuple[tuple[str, str], ...] | None:
    """What must match for VARIANT to pair as PROFILE (None: it is not PROFILE)."""
    params = dict(variant.params)
    if variant.base == profile:
        return tuple(sorted(params.items()))
    if params.get("kind") == profile:
        rest = {k: v for k, v in params.items() if k != "kind"}
        return (("vm", variant.base), *sorted(rest.items()))
    return None


def pairs(
    targets: list[str], base: str, other: str, parameter: str = ""
) -> list[tuple[Variant, Variant]]:
    """(base variant, other variant) with everything but base/kind alike, in sweep order.

    With BASE equal to OTHER (one VM, or one kind) the pairs are a scaling curve along
    PARAMETER: each value against the first (lowest) one, everything else alike."""
    variants = [v for v in (parse_name(name) for name in targets) if v is not None]
    if base == other:
        return _scaling(variants, base, parameter)
    bases = {key: v for v in variants if (key := _key(v, base)) is not None}
    found = []
    for variant in variants:
        key = _key(variant, other)
        if key is not None and key in bases and bases[key] != variant:
            found.append((bases[key], variant))
    return found


def _scaling(
    variants: list[Variant], profile: str, parameter: str
) -> list[tuple[Variant, Variant]]:
    """PROFILE's variants grouped by everything but PARAMETER; in each group the lowest
    value is the base of every other one."""
    groups: dict[tuple[tuple[str, str], ...], list[Variant]] = {}
    for variant in variants:
        key = _key(variant, profile)
        if key is not None and parameter in dict(variant.params):
            rest = tuple(item for item in key if item[0] != parameter)
            groups.setdefault(rest, []).append(variant)
    found = []
    for group in groups.values():
        ordered = sorted(group, key=lambda v: _order(dict(v.params)[parameter]))
        found += [(ordered[0], variant) for variant in ordered[1:]]
    return found


@dataclass(frozen=True)
class AlongQuery:
    """Compare OTHER with BASE at each value of PARAMETER."""

    base: str
    other: str
    parameter: str


def compare_along(
    series: list[Series],
    query: AlongQuery,
    noisy_cv_pct: float,
    headlines: Mapping[str, str] | None = None,
    facts: RunFacts | None = None,
) -> list[AlongPoint]:
    """One comparison per value of the parameter, ordered by value (numbers numerically)."""
    base, other, parameter = query.base, query.other, query.parameter
    if parameter not in PARAMETERS:
        raise UsageError(f"--along {parameter!r}: use one of {', '.join(PARAMETERS)}")
    targets = list(dict.fromkeys(s.target for s in series))
    matched = [
        (b, o) for b, o in pairs(targets, base, other, parameter) if parameter in dict(b.params)
    ]
    if not matched:
        raise UsageError(
            f"no variants of {base!r} and {other!r} that differ only in {parameter} "
            f"(targets: {', '.join(targets) or 'none'})",
            "name two VMs or two kinds of the sweep with --base and --other, or one VM as "
            f"both to compare each {parameter} with the first; a run that varied no "
            f"{parameter} needs a sweep: sevtui bench sweep --vm ... --vary {parameter}=...",
        )
    points = []
    for base_variant, other_variant in matched:
        value = dict((other_variant if base == other else base_variant).params)[parameter]
        fixed = {
            key: text
            for key, text in base_variant.params
            if key != parameter and not (key == "kind" and text == base)
        }
        table = build_comparisons(
            series, base_variant.name, [other_variant.name], noisy_cv_pct, headlines, facts
        ).tables[0]
        points.append(AlongPoint(value, fixed, table))
    return sorted(points, key=lambda p: (sorted(p.fixed.items()), _order(p.value)))


def _order(value: str) -> tuple[int, float, str]:
    """Sort 2 before 16 and 512M before 4G; anything else by text."""
    if value.isdigit():
        return (0, float(value), value)
    try:
        return (0, float(parse_size(value)), value)
    except ValueError:
        return (1, 0.0, value)


def default_query(targets: list[str]) -> AlongQuery | None:
    """What a sweep's targets invite to compare: two VMs (or two kinds, the normal one as
    base) along the first other parameter that takes several values; None if not a sweep."""
    variants = [v for v in (parse_name(name) for name in targets) if v is not None]
    bases = list(dict.fromkeys(v.base for v in variants))
    kinds = list(dict.fromkeys(dict(v.params).get("kind", "") for v in variants))
    if len(bases) >= 2:
        profiles, exclude = bases, ""
    elif len([k for k in kinds if k]) >= 2:
        profiles, exclude = [k for k in kinds if k], "kind"
    elif bases:
        return _scaling_query(variants, bases[0])
    else:
        return None
    base = next((p for p in profiles if "nosev" in p), profiles[0])
    other = next(p for p in profiles if p != base)
    for parameter in PARAMETERS:
        values = {dict(v.params).get(parameter) for v in variants}
        if parameter != exclude and len(values - {None}) >= 2:
            return AlongQuery(base, other, parameter)
    return None


def _scaling_query(variants: list[Variant], vm: str) -> AlongQuery | None:
    """One VM swept along a parameter: each value against the first."""
    for parameter in PARAMETERS:
        values = {dict(v.params).get(parameter) for v in variants}
        if len(values - {None}) >= 2:
            return AlongQuery(vm, vm, parameter)
    return None
