"""Sweeps: VM variants derived from a configured VM, one per combination of parameters.

A variant is named after its base VM and its parameters, `sev-snp@vcpus=2+memory=4G`,
so a stored run's target names are enough to rebuild every variant (resume, results).
'+' separates parameters because QEMU's option syntax gives ',' a meaning in paths.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from pydantic import ValidationError

from sevtui.base.errors import UsageError
from sevtui.base.sizes import parse_size
from sevtui.config import Config, VmConfig

PARAMETERS = (
    "kind",
    "vcpus",
    "memory",
    "bounce",
    "idle",
    "numa_node",
    "numa_balancing",
    "vhost",
    "queues",
)
MAX_VARIANTS = 64


@dataclass(frozen=True)
class Variant:
    """One base VM with some of its parameters replaced."""

    base: str
    params: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        """The target name: BASE@key=value+key=value."""
        return f"{self.base}@" + "+".join(f"{key}={value}" for key, value in self.params)


def parse_vary(items: list[str]) -> list[tuple[str, list[str]]]:
    """`--vary vcpus=1,2,4` options as (parameter, values), in the order given."""
    found: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, text = item.partition("=")
        values = [value.strip() for value in text.split(",") if value.strip()]
        if not sep or key not in PARAMETERS or not values:
            raise UsageError(
                f"--vary {item!r}: expected PARAMETER=V1,V2,... with PARAMETER one of "
                f"{', '.join(PARAMETERS)}",
                "e.g. --vary vcpus=1,2,4 --vary memory=1G,4G",
            )
        if key in (seen[0] for seen in found):
            raise UsageError(f"--vary {key} is given twice", "give each parameter once")
        if not all(re.fullmatch(r"[A-Za-z0-9-]{1,16}", value) for value in values):
            raise UsageError(
                f"--vary {item!r}: values are letters, digits and '-' (e.g. 4G, sev-snp)"
            )
        _refuse_equal(key, values)
        found.append((key, list(dict.fromkeys(values))))
    return found


def _refuse_equal(key: str, values: list[str]) -> None:
    """Two values that mean the same VM (256M and 262144K) would measure it twice."""
    seen: dict[object, str] = {}
    for value in values:
        meaning = _meaning(key, value)
        if meaning in seen and seen[meaning] != value:
            raise UsageError(
                f"--vary {key}: {seen[meaning]} and {value} are the same value",
                "give each value once",
            )
        seen[meaning] = value


def _meaning(key: str, value: str) -> object:
    """What VALUE of KEY amounts to: bytes of memory, a number of vCPUs, a kind."""
    try:
        if key == "memory":
            return parse_size(value)
        if key == "vcpus":
            return int(value)
    except ValueError:
        return value
    return value.lower()


def expand(bases: list[str], varies: list[tuple[str, list[str]]]) -> list[Variant]:
    """Every combination for every base VM, kinds interleaved: the base VM changes
    fastest, then the kind, so each size runs in every mode before the next size starts."""
    keys = [key for key, _ in varies]
    nesting = sorted(varies, key=lambda item: item[0] == "kind")
    variants = []
    for combo in itertools.product(*(values for _, values in nesting)):
        chosen = dict(zip((key for key, _ in nesting), combo, strict=True))
        for base in bases:
            variants.append(Variant(base, tuple((key, chosen[key]) for key in keys)))
    if len(variants) > MAX_VARIANTS:
        raise UsageError(
            f"the sweep has {len(variants)} variants; sevtui runs at most {MAX_VARIANTS}",
            "vary fewer parameters or values",
        )
    return variants


def parse_name(name: str) -> Variant | None:
    """The variant a target name stands for, or None for a plain name."""
    base, sep, rest = name.partition("@")
    if not sep or not base or not rest:
        return None
    params: list[tuple[str, str]] = []
    for part in rest.split("+"):
        key, eq, value = part.partition("=")
        if not eq or key not in PARAMETERS or not value:
            return None
        params.append((key, value))
    return Variant(base, tuple(params))


def with_variants(config: Config, names: list[str]) -> Config:
    """CONFIG plus a [vm.NAME] for every variant among NAMES, validated like config.toml."""
    added: dict[str, VmConfig] = {}
    for name in names:
        variant = parse_name(name)
        if variant is None or name in config.vm:
            continue
        base = config.vm.get(variant.base)
        if base is None:
            known = ", ".join(sorted(config.vm)) or "none"
            raise UsageError(
                f"variant {name!r}: no VM named {variant.base!r} (configured: {known})",
                "sweep configured VMs",
            )
        try:
            added[name] = VmConfig.model_validate({**base.model_dump(), **dict(variant.params)})
        except ValidationError as exc:
            problem = "; ".join(str(error["msg"]) for error in exc.errors())
            raise UsageError(
                f"variant {name!r}: {problem}", "use values config.toml accepts for that key"
            ) from None
    if not added:
        return config
    return config.model_copy(update={"vm": {**config.vm, **added}})


def groups(names: list[str]) -> list[list[str]]:
    """Targets that must be alive together: a sweep's variants of one size (everything
    but the kind and the base VM alike) run interleaved, one size after another, so the
    host needs memory for one size's VMs only. Plain targets join the first group."""
    by_size: dict[tuple[tuple[str, str], ...], list[str]] = {}
    plain: list[str] = []
    for name in names:
        variant = parse_name(name)
        if variant is None:
            plain.append(name)
            continue
        size = tuple(item for item in variant.params if item[0] != "kind")
        by_size.setdefault(size, []).append(name)
    found = list(by_size.values()) or [[]]
    found[0] = plain + found[0]
    return found
