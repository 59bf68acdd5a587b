"""Sweep variants: parsing --vary, the run order, names that rebuild the variants."""

from __future__ import annotations

import pytest

from sevtui.base.errors import UsageError
from sevtui.bench.variants import Variant, expand, parse_name, parse_vary, with_variants
from sevtui.config import Config, VmConfig
from sevtui.vm.ref import state_paths


def test_the_kinds_interleave_and_sizes_follow_each_other() -> None:
    varies = parse_vary(["kind=nosev,sev-snp", "memory=1G,4G"])
    names = [v.name for v in expand(["g"], varies)]
    assert names == [
        "g@kind=nosev+memory=1G",
        "g@kind=sev-snp+memory=1G",
        "g@kind=nosev+memory=4G",
        "g@kind=sev-snp+memory=4G",
    ]
    two_vms = [v.name for v in expand(["nosev", "snp"], parse_vary(["vcpus=1,2"]))]
    assert two_vms == ["nosev@vcpus=1", "snp@vcpus=1", "nosev@vcpus=2", "snp@vcpus=2"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("cpus=1,2", "PARAMETER one of kind, vcpus, memory"),
        ("vcpus", "expected PARAMETER=V1,V2"),
        ("vcpus=", "expected PARAMETER=V1,V2"),
        ("memory=1G,4G;rm", "values are letters, digits and '-'"),
    ],
)
def test_bad_vary_options_are_named(item: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_vary([item])


def test_a_parameter_cannot_be_varied_twice() -> None:
    with pytest.raises(UsageError, match="given twice"):
        parse_vary(["vcpus=1", "vcpus=2"])


def test_names_rebuild_the_variants() -> None:
    variant = Variant("sev-snp", (("vcpus", "2"), ("memory", "4G")))
    assert variant.name == "sev-snp@vcpus=2+memory=4G"
    assert parse_name(variant.name) == variant
    assert parse_name("plain") is None
    assert parse_name("x@cpus=2") is None


def test_variants_are_validated_like_the_config() -> None:
    config = Config(vm={"g": VmConfig(vcpus=4)})
    grown = with_variants(config, ["g@vcpus=2+memory=1G", "g", "host"])
    assert grown.vm["g@vcpus=2+memory=1G"].vcpus == 2
    assert grown.vm["g@vcpus=2+memory=1G"].memory == 1 << 30
    assert "g@vcpus=2+memory=1G" not in config.vm
    with pytest.raises(UsageError, match="variant 'g@memory=huge'"):
        with_variants(config, ["g@memory=huge"])
    with pytest.raises(UsageError, match="no VM named 'h'"):
        with_variants(config, ["h@vcpus=1"])


def test_a_variants_state_folder_has_no_equals_sign() -> None:
    paths = state_paths(Config(), "g@vcpus=2+memory=4G")
    assert paths.root.name == "g@vcpus-2+memory-4G"
    assert "=" not in str(paths.qmp)


def test_a_sweep_invites_its_along_comparison() -> None:
    from sevtui.bench.along import AlongQuery, default_query

    two_vms = ["nosev@vcpus=1", "snp@vcpus=1", "nosev@vcpus=2", "snp@vcpus=2"]
    assert default_query(two_vms) == AlongQuery("nosev", "snp", "vcpus")
    kinds = [v.name for v in expand(["g"], parse_vary(["kind=sev-snp,nosev", "memory=1G,4G"]))]
    assert default_query(kinds) == AlongQuery("nosev", "sev-snp", "memory")
    assert default_query(["demo", "host"]) is None
    assert default_query(["nosev@vcpus=1", "snp@vcpus=1"]) is None


def test_one_size_at_a_time_with_every_kind_and_vm_of_that_size_together() -> None:
    from sevtui.bench.variants import groups

    names = [v.name for v in expand(["a", "b"], parse_vary(["kind=nosev,sev", "memory=1G,4G"]))]
    assert groups(["host", *names]) == [
        [
            "host",
            "a@kind=nosev+memory=1G",
            "b@kind=nosev+memory=1G",
            "a@kind=sev+memory=1G",
            "b@kind=sev+memory=1G",
        ],
        [
            "a@kind=nosev+memory=4G",
            "b@kind=nosev+memory=4G",
            "a@kind=sev+memory=4G",
            "b@kind=sev+memory=4G",
        ],
    ]
    assert groups(["host", "demo"]) == [["host", "demo"]]


def test_one_vm_swept_along_a_parameter_compares_each_value_with_the_first() -> None:
    """The README's sweep: `bench sweep --vm demo --vary vcpus=1,2,4`, then
    `results compare LABEL --base demo --other demo --along vcpus`."""
    from sevtui.bench.along import AlongQuery, compare_along, default_query
    from sevtui.store.rows import Series

    names = ["demo@vcpus=4", "demo@vcpus=1", "demo@vcpus=2"]
    assert default_query(names) == AlongQuery("demo", "demo", "vcpus")
    times = {"demo@vcpus=1": 10.0, "demo@vcpus=2": 6.0, "demo@vcpus=4": 4.0}
    series = [
        Series(
            name,
            "b",
            "cpu",
            "t",
            "s",
            "lower",
            {(1, i + 1): t * (1 + d) for i, d in enumerate((0.0, 0.01, -0.01))},
        )
        for name, t in times.items()
    ]
    points = compare_along(series, AlongQuery("demo", "demo", "vcpus"), 3.5)
    assert [(p.value, p.table.base, p.table.other) for p in points] == [
        ("2", "demo@vcpus=1", "demo@vcpus=2"),
        ("4", "demo@vcpus=1", "demo@vcpus=4"),
    ]
    assert points[0].table.benchmarks[0].overhead_pct == pytest.approx(-40.0)
    assert points[1].table.benchmarks[0].overhead_pct == pytest.approx(-60.0)
