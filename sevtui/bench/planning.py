"""A run's plan from the config and the user's choices, and what it will do in words."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace

from sevtui.base.errors import SevtuiError, UsageError
from sevtui.base.names import check_label
from sevtui.base.sizes import format_duration
from sevtui.bench.catalog import BOOT, Benchmark
from sevtui.bench.events import Design, PlanNotes, RunPlan
from sevtui.bench.targets import HOST
from sevtui.bench.variants import expand, parse_vary, with_variants
from sevtui.config import Config
from sevtui.host.caps import CapabilityReport
from sevtui.store.db import Store
from sevtui.vm import lifecycle
from sevtui.vm.ref import lookup


def default_label(suite: str) -> str:
    """A run's label when none is given: the suite and the local time."""
    return f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class Asked:
    """What the user asked of a run; None takes the config's value."""

    repetitions: int | None = None
    label: str | None = None
    warmup: int | None = None


def make_plan(
    config: Config, targets: list[str], suite: str, asked: Asked, design: Design
) -> RunPlan:
    """A run plan with the config's warm-up, cap, timeout and design: a fixed number of
    repetitions per launch, launches (the seed suite 3, others 1, unless bench.launches
    or --launches says), and a seeded random order."""
    label, warmup = asked.label, asked.warmup
    if label is not None:
        check_label(label)
    bench = config.bench
    launches = design.launches or bench.launches or (3 if suite == "seed" else 1)
    count = asked.repetitions or bench.repetitions
    if design.precision_pct is not None and bench.max_repetitions < count + 2:
        raise UsageError(
            f"--precision measures a pilot of {count} repetitions and at least 2 more, "
            f"but bench.max_repetitions is {bench.max_repetitions}",
            f"raise bench.max_repetitions to {count + 2} or more",
        )
    return RunPlan(
        targets=list(dict.fromkeys(targets)),
        suite=suite,
        repetitions=count,
        label=label or default_label(suite),
        warmup=bench.warmup if warmup is None else warmup,
        max_repetitions=max(bench.max_repetitions, count),
        cv_threshold_pct=bench.cv_threshold_pct,
        timeout_s=bench.timeout_s,
        concurrent=design.concurrent,
        launches=launches,
        order=design.order,
        seed=design.seed if design.seed is not None else secrets.randbelow(2**31),
        precision_pct=design.precision_pct,
    )


def sweep_plan(
    config: Config, report: CapabilityReport, vms: list[str], vary: list[str], base: RunPlan
) -> RunPlan:
    """BASE over every variant of VMS (combinations of the --vary values); refused when a
    VM could not boot for want of a file."""
    found = [lookup(config, name) for name in vms]
    names = [variant.name for variant in expand(vms, parse_vary(vary))]
    for vm in found:
        if lifecycle.status(vm).state != "running":
            try:
                lifecycle.check_media(config, vm, report)
            except SevtuiError as exc:
                raise UsageError(f"cannot sweep {vm.name}: {exc.message}", exc.hint) from None
    with_variants(config, names)
    return replace(base, targets=names)


def plan_notes(config: Config, store: Store, suite: list[Benchmark], plan: RunPlan) -> PlanNotes:
    """What PLAN will do, for both front ends to say before it starts: its size, an
    estimate, and the running VMs it will restart."""
    config = with_variants(config, plan.targets)
    per_launch = "a pilot of " if plan.precision_pct else ""
    lines = [
        f"{plan.label!r}: {len(suite)} benchmarks of suite {plan.suite} on "
        f"{', '.join(plan.targets)}; {plan.launches} launch(es) x {per_launch}"
        f"{plan.repetitions} repetitions, {plan.warmup} warm-up, {plan.order} order"
        + (f" (seed {plan.seed})" if plan.order == "random" else ""),
        f"planned: {len(suite) * len(plan.targets) * plan.launches * plan.repetitions} "
        "repetitions; a benchmark a target cannot run is recorded as unavailable and "
        "taken off the plan",
        _estimate(store, plan, suite),
    ]
    why = (
        "each of the run's launches boots it anew"
        if plan.launches > 1
        else "the boot benchmark restarts it cold"
        if any(bench.parser == BOOT for bench in suite)
        else ""
    )
    running = [
        name
        for name in plan.targets
        if name != HOST and lifecycle.status(lookup(config, name)).state == "running"
    ]
    restarts = tuple(running) if why else ()
    for name in restarts:
        lines.append(
            f"{name} is running now and will be restarted ({why}): what it holds is lost "
            "and its probe verdict no longer applies"
        )
    return PlanNotes(tuple(lines), restarts)


def _estimate(store: Store, plan: RunPlan, suite: list[Benchmark]) -> str:
    """About how long PLAN takes, from the targets' earlier runs of each benchmark."""
    total, unknown = 0.0, 0
    for target in plan.targets:
        for bench in suite:
            seconds = store.last_seconds(target, bench.id)
            if seconds is None:
                unknown += 1
                continue
            total += seconds * (plan.repetitions + plan.warmup) * plan.launches
    if total == 0:
        return "estimate: none yet (no earlier run of these benchmarks on these targets)"
    missing = f"; {unknown} benchmark/target pairs never ran before" if unknown else ""
    return f"estimate: about {format_duration(total)} from earlier runs{missing}"
