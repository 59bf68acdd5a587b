"""The benchmark catalog: data, not code paths. The seed's suite, a quick suite, user additions.

Commands run in the target's shell with $SEVTUI_WORK as the working directory.
The `elapsed` parser times the command inside the target (not across the console).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sevtui.base.errors import UsageError
from sevtui.config import Config
from sevtui.image.sources import BUILD_QUICK, GODOT, IMAGEMAGICK, LINUX, LLVM, Source

Category = Literal["cpu", "memory", "io", "network", "exits", "launch", "other"]
ParserName = Literal[
    "elapsed", "mbw", "tinymembench", "redis-csv", "fio-json", "exits", "iperf3-json", "boot"
]
BOOT: ParserName = "boot"
"""The parser of the boot benchmark: sevtui restarts the VM and times it from the host."""


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: what it needs, how to set it up, what to run, how to read it."""

    id: str
    title: str
    category: Category
    command: str
    parser: ParserName = "elapsed"
    needs: tuple[str, ...] = ()
    setup: str = ""
    timeout_s: float | None = None
    notes: str = ""
    headline: str = ""
    """Regex of the headline metrics (empty: all): they alone enter the benchmark's
    overhead and the means, and the adaptive mode watches them."""
    source: Source | None = None
    """A pinned tarball sevtui copies into the work folder before the setup runs."""
    needs_disk: bool = False
    """Measures the disk: unavailable where the work folder is in RAM (tmpfs, initramfs)."""
    warmup: int | None = None
    """Unrecorded runs before each launch's repetitions; None: the plan's (bench.warmup)."""
    typical_s: float | None = None
    """Seconds one repetition typically takes on the host of a small machine (2 cores,
    SSD): the time-left estimate's prior until this target has measured it."""
    vm_only: str = ""
    """Why the host target cannot run it (empty: it can)."""
    host_side: str = ""
    """The host runs the measured command (this program must be on its PATH) against a
    server the setup started in the target, at $SEVTUI_NET_HOST:$SEVTUI_NET_PORT (a port
    QEMU forwards on 127.0.0.1, or the guest's own address on a tap device); empty: the
    command runs in the target."""


def _build(
    bench_id: str,
    title: str,
    needs: tuple[str, ...],
    source: Source,
    build: str,
    configure: str = "",
) -> Benchmark:
    """A compile benchmark of a pinned release, unpacked once into ./src (and configured
    there once, untimed, when CONFIGURE is given)."""
    unpack = (
        f"{{ [ -d src ] || {{ mkdir -p src.part && tar xf {source.filename} -C src.part "
        "--strip-components=1 && mv src.part src; }; }"
    )
    return Benchmark(
        bench_id,
        title,
        "cpu",
        command=f"cd src && {build}",
        needs=("tar", *needs),
        setup=f"{unpack} && cd src && {configure}" if configure else unpack,
        source=source,
        notes=f"{source.project} {source.release}, the tarball pinned by sha256; sevtui "
        "fetches it once on the host and copies it in (guests need no internet)",
    )


_FIO = (
    "fio --output-format=json --directory=. --size={size} --direct=1 --ioengine=libaio "
    "--runtime={runtime} --time_based --ramp_time=1 "
    "--name=seq-read --rw=read --bs=1M --iodepth=4 "
    "--name=seq-write --stonewall --rw=write --bs=1M --iodepth=4 "
    "--name=rand-read --stonewall --rw=randread --bs=4k --iodepth=16 "
    "--name=rand-write --stonewall --rw=randwrite --bs=4k --iodepth=16; rc=$?; "
    "rm -f seq-read.* seq-write.* rand-read.* rand-write.*; exit $rc"
)


def _fio(bench_id: str, title: str, size: str, runtime: int) -> Benchmark:
    """Sequential bandwidth and 4k random IOPS with direct I/O on a file in the work folder."""
    return Benchmark(
        bench_id,
        title,
        "io",
        _FIO.format(size=size, runtime=runtime),
        "fio-json",
        needs=("fio",),
        needs_disk=True,
        typical_s=4 * (runtime + 1.5),
        notes="direct I/O on files in the target's work folder: the guest's root disk, "
        "the host's /var/tmp",
    )


def _iperf(seconds: int, udp_rate: str) -> str:
    """Five iperf3 runs, the host the client: TCP host->guest and guest->host (-R) with 1
    and 4 streams, and UDP at UDP_RATE.

    Each prints one JSON document; the parser tells them apart by their own test_start
    (protocol, streams, reverse). The 1-stream guest->host run also brings the server's
    own JSON (--get-server-output): the guest is the sender there, and its kernel's
    smoothed RTT of that connection (TCP_INFO, iperf3's mean_rtt) is the round trip
    through the guest's NIC, whatever the network (on QEMU's user network the host's
    own socket ends at QEMU's slirp on 127.0.0.1, so its RTT would not cross the NIC).
    The server takes one test at a time and is still finishing the last for a moment
    (longer under TCG): the next waits a second.
    """
    return "; sleep 1; ".join(
        f"iperf3 -c $SEVTUI_NET_HOST -p $SEVTUI_NET_PORT -t {seconds} --connect-timeout 5000"
        f" -J{args}"
        " || exit $?"
        for args in ("", " -R --get-server-output", " -P 4", " -P 4 -R", f" -u -b {udp_rate}")
    )


_IPERF_SERVER = (
    "killall iperf3 2>/dev/null; iperf3 -s -D -J -p 5201 >/dev/null 2>&1; i=0; "
    # Listening on 5201 (0x1451): /proc/net/tcp* state 0A, in any guest (no netstat needed).
    "until cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':1451 0*:0000 0A'; "
    "do i=$((i+1)); "
    '[ $i -gt 20 ] && { echo "iperf3 did not start listening" >&2; exit 1; }; sleep 0.2; done'
)
_LZ4_S_PER_MIB = 0.003
"""lz4 at about 330 MiB/s, reading and writing the work folder."""


def _net(bench_id: str, title: str, pace: tuple[int, str, float], notes: str) -> Benchmark:
    """A network benchmark: the host's iperf3 client against the guest's server, PACE
    being (seconds per iperf3 run, UDP rate, typical seconds in all)."""
    seconds, udp_rate, typical_s = pace
    return Benchmark(
        bench_id,
        title,
        "network",
        _iperf(seconds, udp_rate),
        "iperf3-json",
        needs=("iperf3",),
        setup=_IPERF_SERVER,
        headline=r"^TCP .* Gbit/s$",
        typical_s=typical_s,
        vm_only="the host target has no NIC between it and a guest to measure",
        host_side="iperf3",
        notes=notes,
    )


def _lz4(suffix: str, stem: str, mib: int, what: str) -> tuple[Benchmark, Benchmark]:
    """lz4 compress and decompress of MIB MiB of random data (made once per target)."""
    make = f"[ -f {stem}.in ] || dd if=/dev/urandom of={stem}.in bs=1M count={mib} 2>/dev/null"
    return (
        Benchmark(
            f"lz4-compress{suffix}",
            f"lz4 compress of {what}",
            "cpu",
            f"lz4 -f -q {stem}.in {stem}.out",
            needs=("lz4", "dd"),
            setup=make,
            typical_s=mib * _LZ4_S_PER_MIB,
        ),
        Benchmark(
            f"lz4-decompress{suffix}",
            f"lz4 decompress of {what}",
            "cpu",
            f"lz4 -d -f -q {stem}.out {stem}.back",
            needs=("lz4", "dd"),
            setup=f"{make}; lz4 -f -q {stem}.in {stem}.out",
            typical_s=mib * _LZ4_S_PER_MIB,
        ),
    )


_REDIS_NEEDS = ("redis-server", "redis-benchmark", "redis-cli")
_REDIS = (
    # The server runs in the benchmark's own process group (killed with it); the port is
    # the run's own (SEVTUI_PORT: a free port on the host; in a guest, 6390), and a server
    # that cannot listen there fails the repetition in seconds, not at the timeout.
    "P=${{SEVTUI_PORT:-6390}}; redis-server --port $P --bind 127.0.0.1 --save '' "
    "--appendonly no >/dev/null 2>&1 & r=$!; i=0; "
    "until redis-cli -p $P ping >/dev/null 2>&1; do i=$((i+1)); "
    "if [ $i -gt 15 ] || ! kill -0 $r 2>/dev/null; then "
    'echo "redis-server did not answer on port $P" >&2; kill $r 2>/dev/null; exit 1; fi; '
    "sleep 1; done; "
    'kill -0 $r 2>/dev/null || {{ echo "port $P is taken by another server" >&2; exit 1; }}; '
    "redis-benchmark -p $P --csv {args}; rc=$?; kill $r 2>/dev/null; wait $r 2>/dev/null; "
    "exit $rc"
)
_SQLITE_SETUP = (
    "i=0; {{ echo 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);'; "
    "while [ $i -lt {count} ]; do echo \"INSERT INTO t(v) VALUES('row $i');\"; "
    "i=$((i+1)); done; }} > inserts.sql"
)
_SQLITE = "rm -f bench.db && sqlite3 bench.db < inserts.sql"

BUILTIN: tuple[Benchmark, ...] = (
    replace(
        _build(
            "godot-build",
            "Godot game engine compilation",
            ("scons", "gcc", "g++", "python3"),
            GODOT,
            "scons -c >/dev/null 2>&1; scons -j$(nproc) platform=x11 >/dev/null",
        ),
        typical_s=2400,
    ),
    replace(
        _build(
            "imagemagick-build",
            "ImageMagick compilation (gcc)",
            ("gcc", "make"),
            IMAGEMAGICK,
            "(make distclean >/dev/null 2>&1; ./configure >/dev/null) "
            "&& make -j$(nproc) >/dev/null",
        ),
        typical_s=300,
    ),
    replace(
        _build(
            "linux-build",
            "Linux compilation (defconfig)",
            ("gcc", "make", "flex", "bison", "bc"),
            LINUX,
            "make clean >/dev/null && make defconfig >/dev/null && make -j$(nproc) >/dev/null",
        ),
        typical_s=1200,
    ),
    replace(
        _build(
            "llvm-build",
            "llvm-project compilation (ninja)",
            ("cmake", "ninja", "gcc", "g++"),
            LLVM,
            "cd build && ninja clean >/dev/null && ninja >/dev/null",
            "mkdir -p build && cd build && { [ -f build.ninja ] || cmake -G Ninja ../llvm "
            "-DCMAKE_BUILD_TYPE=Release >/dev/null; }",
        ),
        typical_s=7200,
    ),
    replace(
        _build(
            "build-quick",
            "Lua 5.4.4 compilation (make, quick)",
            ("cc", "make"),
            BUILD_QUICK,
            "make clean >/dev/null && make -j$(nproc) linux >/dev/null",
        ),
        typical_s=4,
    ),
    _fio("fio", "fio: sequential MiB/s and 4k random IOPS, 256 MiB files", "256M", 10),
    _fio("fio-quick", "fio: sequential MiB/s and 4k random IOPS, 64 MiB files (quick)", "64M", 2),
    *_lz4("", "lz4", 1024, "a 1 GiB file"),
    Benchmark(
        "sqlite-insert",
        "SQLite 2500 insertions (one transaction each)",
        "io",
        _SQLITE,
        needs=("sqlite3",),
        setup=_SQLITE_SETUP.format(count=2500),
        typical_s=2.5,
    ),
    Benchmark(
        "mbw", "mbw 1024 MiB", "memory", "mbw -n 10 1024", "mbw", needs=("mbw",), typical_s=8
    ),
    Benchmark(
        "tinymembench",
        "tinymembench",
        "memory",
        "tinymembench",
        "tinymembench",
        needs=("tinymembench",),
        headline=r"^standard mem(cpy|set)$",
        typical_s=45,
    ),
    Benchmark(
        "redis",
        "redis-benchmark",
        "io",
        _REDIS.format(args=""),
        "redis-csv",
        needs=_REDIS_NEEDS,
        headline=" rps$",
        typical_s=30,
    ),
    *_lz4("-quick", "lz4q", 32, "32 MiB (quick)"),
    Benchmark(
        "sqlite-insert-quick",
        "SQLite 250 insertions, one transaction each (quick)",
        "io",
        _SQLITE,
        needs=("sqlite3",),
        setup=_SQLITE_SETUP.format(count=250),
        typical_s=0.25,
    ),
    Benchmark(
        "mbw-quick",
        "mbw 16 MiB (quick)",
        "memory",
        "mbw -n 3 16",
        "mbw",
        needs=("mbw",),
        typical_s=0.05,
    ),
    Benchmark(
        "redis-quick",
        "redis-benchmark SET/GET, 2000 requests (quick)",
        "io",
        _REDIS.format(args="-n 2000 -t set,get"),
        "redis-csv",
        needs=_REDIS_NEEDS,
        headline=" rps$",
        typical_s=1.2,
    ),
    _net(
        "net",
        "iperf3 through the guest's NIC: TCP both ways with 1 and 4 streams for 10 s each, "
        "the guest's TCP RTT, UDP at 500 Mbit/s",
        (10, "500M", 60),
        "the host is the iperf3 client, the guest the server: through QEMU's user "
        "network forward on 127.0.0.1 (the path is QEMU's slirp), or the guest's address on "
        "a tap device; RTT: the guest kernel's smoothed RTT of the guest->host stream",
    ),
    _net(
        "net-quick",
        "iperf3 through the guest's NIC: TCP both ways with 1 and 4 streams, the guest's TCP "
        "RTT, UDP at 50 Mbit/s",
        (1, "50M", 9),
        "the host is the iperf3 client, the guest the server, through QEMU's user "
        "network forward on 127.0.0.1; under user networking the path is QEMU's slirp, not "
        "a tap device",
    ),
    Benchmark(
        "exits",
        "VM exits: CPUID, port I/O, MMIO read, MSR read, against a null syscall",
        "exits",
        # Port and MMIO access need root: a guest shell that is not (the Debian guest's
        # ssh user) asks sudo, without a password.
        'as_root=; [ "$(id -u)" = 0 ] || as_root="sudo -n"; $as_root sevtui-exits --mmio',
        "exits",
        needs=("sevtui-exits",),
        headline="^cpuid ns$",
        typical_s=0.5,
        vm_only="on the host nothing exits to a hypervisor: this times a guest's exits",
        notes="sevtui-exits, built static from sevtui's own C source and packed into the "
        "minimal guest: median cycles and ns per operation over 64 batches of 200",
    ),
    Benchmark(
        "boot",
        "cold boot: QEMU start to QMP, console, kernel, ready",
        "launch",
        "",
        BOOT,
        headline="^ready$",
        typical_s=6,
        notes="sevtui stops the VM and starts it again for each repetition (VMs it starts only)",
    ),
)

BUILTIN_SUITES: dict[str, tuple[str, ...]] = {
    "seed": (
        "godot-build",
        "imagemagick-build",
        "linux-build",
        "llvm-build",
        "lz4-compress",
        "lz4-decompress",
        "sqlite-insert",
        "mbw",
        "tinymembench",
        "redis",
    ),
    "quick": (
        "lz4-compress-quick",
        "lz4-decompress-quick",
        "sqlite-insert-quick",
        "mbw-quick",
        "redis-quick",
        "build-quick",
        "fio-quick",
        "net-quick",
        "exits",
        "boot",
    ),
    "cvm": ("net", "exits", "fio", "boot"),
}
"""seed: the write-up's benchmarks; quick: one of each kind in minutes; cvm: where
confidential VMs pay most (the NIC, VM exits, the disk through bounce buffers)."""


@dataclass
class Catalog:
    """Built-in benchmarks and suites plus the user's from config.toml."""

    benchmarks: dict[str, Benchmark] = field(default_factory=dict)
    suites: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def suite(self, name: str) -> list[Benchmark]:
        """The benchmarks of suite NAME, in order."""
        if name not in self.suites:
            raise UsageError(
                f"no suite named {name!r} (suites: {', '.join(sorted(self.suites))})",
                "pick a suite with --suite, or define one under [suites] in config.toml",
            )
        return [self.benchmarks[bench_id] for bench_id in self.suites[name]]

    def get(self, bench_id: str) -> Benchmark | None:
        """A benchmark by id."""
        return self.benchmarks.get(bench_id)

    def headlines(self) -> dict[str, str]:
        """Benchmark id -> regex of its headline metrics (empty: every metric)."""
        return {bench_id: bench.headline for bench_id, bench in self.benchmarks.items()}


def catalog_from_config(config: Config) -> Catalog:
    """The catalog as this config extends it."""
    custom = {
        bench_id: Benchmark(
            bench_id,
            item.title or bench_id,
            item.category,
            item.command,
            item.parser,
            tuple(item.needs),
            item.setup,
            item.timeout_s,
            headline=item.headline,
        )
        for bench_id, item in config.benchmark.items()
    }
    catalog = build_catalog(custom, config.suites)
    overrides: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("bench.warmups", "warmup", dict(config.bench.warmups)),
        ("bench.headline", "headline", dict(config.bench.headline)),
    )
    for key, field_name, values in overrides:
        for bench_id, value in values.items():
            known = catalog.benchmarks.get(bench_id)
            if known is None:
                raise UsageError(
                    f"{key} names an unknown benchmark {bench_id!r}",
                    "see `sevtui bench list` for the ids",
                )
            catalog.benchmarks[bench_id] = replace(known, **{field_name: value})
    return catalog


def build_catalog(
    custom: dict[str, Benchmark] | None = None, suites: dict[str, list[str]] | None = None
) -> Catalog:
    """The catalog with user benchmarks and suites merged over the built-ins."""
    catalog = Catalog({b.id: b for b in BUILTIN}, dict(BUILTIN_SUITES))
    catalog.benchmarks.update(custom or {})
    for name, ids in (suites or {}).items():
        unknown = [bench_id for bench_id in ids if bench_id not in catalog.benchmarks]
        if unknown:
            raise UsageError(
                f"suite {name!r} names unknown benchmarks: {', '.join(unknown)}",
                "define them under [benchmark.ID] in config.toml",
            )
        catalog.suites[name] = tuple(ids)
    return catalog
