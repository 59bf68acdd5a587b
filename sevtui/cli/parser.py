"""The `sevtui` command tree: every command, its options and its --help text."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sevtui import __version__
from sevtui.base.kinds import VM_KINDS
from sevtui.bench.parsers import FORMATS
from sevtui.report import ONE_COLUMN_IN, PLOT_KINDS


def _globals() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: ./config.toml, then $XDG_CONFIG_HOME/sevtui/config.toml)",
    )
    common.add_argument(
        "--db",
        metavar="FILE",
        type=Path,
        default=argparse.SUPPRESS,
        help="results database (default: DATA_DIR/sevtui.db)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; every command has --help."""
    common = _globals()
    parser = argparse.ArgumentParser(
        prog="sevtui",
        description="Evaluate confidential VMs (AMD SEV, SEV-ES, SEV-SNP) against normal VMs. "
        "With no command, opens the terminal app.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"sevtui {__version__}")
    top = _Commands(parser.add_subparsers(dest="command", metavar="COMMAND"), common)

    _caps_command(top)

    config = top.group("config", "inspect the configuration", "Config tools.")
    check = config.command(
        "check",
        "validate config.toml and print the effective config",
        "Validate the config (exit 2 on problems) and print the effective values.",
    )
    check.add_argument("--json", action="store_true", help="print JSON")

    _vm_commands(
        top.group(
            "vm",
            "start, stop, list and use VMs",
            "VM lifecycle: each VM runs detached from sevtui with a private state dir.",
        )
    )
    _image_commands(top.group("image", "guest images", "Build guest images."))
    _import_command(top)
    _results_commands(
        top.group("results", "browse and compare stored runs", "Stored runs: list, show, compare.")
    )
    _bench_commands(
        top.group(
            "bench", "run benchmark suites in VMs and on the host", "Benchmarks: run, resume, list."
        )
    )

    _report_command(top)
    _probe_command(top)
    _attest_command(top)
    _fleet_commands(
        top.group(
            "fleet",
            "run the evaluation on many hosts with Ansible",
            "Many hosts through the shipped Ansible playbook (ansible-runner): each host gets "
            "a wheel of this sevtui in its own folder (the inventory variable sevtui_home, "
            "default /var/lib/sevtui-fleet) and the VM config; results come home and are "
            "merged.",
        )
    )
    return parser


def _fleet_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--inventory", required=True, metavar="FILE", help="Ansible inventory (INI or YAML)"
    )
    command.add_argument(
        "--wheel", metavar="FILE", help="sevtui wheel to install (default: built from source)"
    )


def _fleet_commands(fleet: _Commands) -> None:
    caps = fleet.command(
        "caps",
        "one capability row per host: CPU, microcode, kernel, QEMU, firmware, SEV modes",
        "Install sevtui on every host and print what each can run, and why not.",
    )
    _fleet_options(caps)
    caps.add_argument("--json", action="store_true", help="print JSON rows")
    run = fleet.command(
        "run",
        "run a suite on every host and merge the results here",
        "On every host: install, read the capabilities, `bench run` (a rerun of the label "
        "continues what is missing), fetch the database; then merge them all here. "
        "Unreachable hosts and failed runs are reported per host; the others go on.",
    )
    _fleet_options(run)
    run.add_argument("--vm", action="append", required=True, metavar="NAME", help="VM or host")
    run.add_argument("--suite", default="quick", help="suite name (default quick)")
    run.add_argument("--repetitions", type=int, default=3, metavar="N", help="default 3")
    run.add_argument("--label", required=True, help="run label (the same on every host)")


def _caps_command(top: _Commands) -> None:
    caps = top.command(
        "caps",
        "what this host can do for confidential VMs, and why not",
        "Check CPU, firmware, kernel, KVM and QEMU for SEV / SEV-ES / SEV-SNP, like "
        "`snphost ok`, and say which VM kinds can launch here.",
    )
    caps.add_argument("--json", action="store_true", help="print JSON")
    caps.add_argument(
        "--sysroot", metavar="DIR", help="read proc/, sys/, dev/ under DIR instead of /"
    )
    caps.add_argument(
        "--cpuid-file",
        metavar="FILE",
        help="take leaf 0x8000001F from `cpuid -1 -r` or `cpuid -1 -l 0x8000001f` output",
    )
    caps.add_argument(
        "--require",
        choices=VM_KINDS,
        metavar="KIND",
        help="say in one line whether KIND (nosev, sev, sev-es, sev-snp) can launch here; "
        "exit 1 when it cannot",
    )
    caps.add_argument(
        "-q", "--quiet", action="store_true", help="with --require: print nothing, exit status only"
    )


def _attest_command(top: _Commands) -> None:
    attest = top.command(
        "attest",
        "SEV-SNP and TDX attestation: verify a report or quote file, or a running VM's",
        "`attest verify REPORT` checks a report (raw binary or hex) to AMD's root: ARK -> "
        "ASK -> VCEK (RSA-PSS), the report's ECDSA P-384 signature, and the VCEK's TCB and "
        "chip id. `attest VM` asks the running guest for a fresh report carrying a random "
        "nonce (configfs-tsm or snpguest), verifies it, compares its measurement with the "
        "one computed from what sevtui launched, and stores the result. A TD quote (TDX, "
        "versions 4 and 5, told apart from SNP reports by its header) is verified with "
        "dcap-qvl to Intel's root against --collateral, as of --at; its TCB status and "
        "advisory IDs are printed. Exit 0: everything checked (whatever the TCB status, "
        "unless --require-up-to-date); 1: verification failed or could not be done; 2: "
        "unusable input.",
    )
    attest.add_argument("target", metavar="VM|verify", help="a running VM, or 'verify'")
    attest.add_argument("report", nargs="?", help="with verify: the report file")
    attest.add_argument(
        "--vcek", type=Path, metavar="FILE", help="the chip's VCEK (DER or PEM); default: cache/KDS"
    )
    attest.add_argument(
        "--chain", type=Path, metavar="FILE", help="AMD's ASK+ARK (PEM); default: built in"
    )
    attest.add_argument(
        "--product", choices=["Milan", "Genoa", "Turin"], help="EPYC product of the chip"
    )
    attest.add_argument(
        "--sample",
        action="store_true",
        help="with verify: check the real Milan report shipped with sevtui, with its VCEK "
        "(no SEV hardware or network needed)",
    )
    attest.add_argument(
        "--collateral",
        type=Path,
        metavar="FILE",
        help="with verify of a TD quote: its collateral (dcap-qvl's JSON: PCK CRLs, TCB info, "
        "QE identity)",
    )
    attest.add_argument(
        "--at",
        metavar="TIME",
        help="with verify of a TD quote: verify as of this ISO 8601 time (collateral is "
        "valid for a window); default: now",
    )
    attest.add_argument(
        "--nonce", metavar="HEX", help="with verify of a TD quote: the report data it must carry"
    )
    attest.add_argument(
        "--require-up-to-date",
        action="store_true",
        help="with a TD quote: exit 1 unless its TCB status is UpToDate",
    )
    attest.add_argument("--json", action="store_true", help="print JSON")


def _probe_command(top: _Commands) -> None:
    probe = top.command(
        "probe",
        "can the host read this guest's memory? (plant a canary, search QEMU)",
        "Plant a random canary in the running guest and search the QEMU process's memory "
        "for it from the host, like the seed's gcore | grep demo.",
    )
    probe.add_argument("name", help="VM name (or an external QEMU's name with --secret)")
    probe.add_argument(
        "--method",
        choices=("scan", "gcore"),
        default="scan",
        help="scan: read the resident guest RAM (default); gcore: the seed's way",
    )
    probe.add_argument("--secret", metavar="TEXT", help="search for TEXT you planted yourself")
    probe.add_argument("--all", action="store_true", help="scan every readable mapping")
    probe.add_argument("--json", action="store_true", help="print JSON")


class _Commands:
    """Adds commands (and groups of them) that all take the global options.

    Each command records its path (`vm start`); the CLI maps it to `cmd_vm_start`.
    """

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser, prefix: str = "") -> None:
        self.subparsers = subparsers
        self.common = common
        self.prefix = prefix

    def command(self, name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
        """A command with --help and the global options."""
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name, parents=[self.common], help=summary, description=description or summary
        )
        parser.set_defaults(path=f"{self.prefix}{name}")
        return parser

    def group(self, name: str, summary: str, description: str) -> _Commands:
        """A command that holds commands; on its own it prints its help."""
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name, parents=[self.common], help=summary, description=description
        )
        parser.set_defaults(group_help=parser)
        return _Commands(
            parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND"),
            self.common,
            f"{self.prefix}{name} ",
        )


def _vm_commands(vm: _Commands) -> None:
    argv_cmd = vm.command("argv", "print the QEMU argv of a VM without starting it")
    argv_cmd.add_argument("name", help="VM name from config.toml")
    argv_cmd.add_argument(
        "--json",
        action="store_true",
        help='print {"argv", "firmware", "policy_flags", "warnings", "blockers"}',
    )
    argv_cmd.add_argument(
        "--explain",
        action="store_true",
        help="one option per line, with the firmware chosen and the policy decoded",
    )
    start = vm.command("start", "start a VM (it keeps running after sevtui exits)")
    start.add_argument("name", help="VM name from config.toml")
    start.add_argument(
        "--force", action="store_true", help="start even if the host check says it cannot run"
    )
    start.add_argument(
        "--no-wait", action="store_true", help="return once QMP answers; do not wait for the guest"
    )
    stop = vm.command("stop", "stop a VM: ACPI powerdown, then quit, SIGTERM, SIGKILL")
    stop.add_argument("name", help="VM name")
    stop.add_argument("--kill", action="store_true", help="SIGKILL at once (like virsh destroy)")
    stop.add_argument(
        "--force", action="store_true", help="stop it even while a benchmark run uses it"
    )
    stop.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long the guest gets to power off before escalation (default 10)",
    )
    listing = vm.command("list", "configured VMs and other QEMU processes here")
    listing.add_argument("--json", action="store_true", help="print JSON rows")
    details = vm.command(
        "details",
        "how a VM was started: argv, state, policy in words, last attestation, log tails",
    )
    details.add_argument("name", help="VM name from config.toml")
    details.add_argument("--json", action="store_true", help="print JSON")
    exec_cmd = vm.command(
        "exec",
        "run a command in the guest (ssh for cloud guests, else the serial console)",
        "Run a command in the guest and exit with its status. Over the serial console the "
        "guest's terminal merges stderr into stdout and sevtui turns its CRLF line ends "
        "into LF; over ssh, stdout comes first, then stderr.",
    )
    exec_cmd.add_argument("name", help="VM name")
    exec_cmd.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="default 60"
    )
    exec_cmd.add_argument("command", nargs="*", help="the command, after -- (e.g. -- uname -r)")
    console = vm.command("console", "attach this terminal to the guest console (Ctrl-] detaches)")
    console.add_argument("name", help="VM name")


def _image_commands(image: _Commands) -> None:
    build = image.command(
        "build",
        "build a guest: minimal (kernel + busybox initramfs) or debian (a cloud-style disk)",
        "Build a guest image under IMAGE_DIR; reused while its inputs are unchanged. "
        "minimal: the host's (or Debian's) kernel and a busybox initramfs with the "
        "benchmark tools, direct kernel boot, seconds to build. debian: a Debian 12 disk "
        "(GPT, EFI system partition with systemd-boot, cloud-init, sshd, compilers, fio) "
        "made with mmdebstrap from image.debian_mirror, as root, a few minutes; then "
        "`image prepare-cloud --base IMAGE_DIR/debian/disk.qcow2 --vm NAME`.",
    )
    build.add_argument(
        "image",
        nargs="?",
        default="minimal",
        choices=("minimal", "debian"),
        help="which guest (default minimal)",
    )
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    cloud = image.command(
        "prepare-cloud",
        "disk, ssh key and cloud-init seed for a VM from a cloud image (as in the seed)",
        "qemu-img convert + resize, a generated ssh key (0600, in a 0700 dir) and a "
        "cloud-init seed ISO (cloud-localds) under DATA_DIR/vms/NAME.",
    )
    cloud.add_argument("--base", required=True, metavar="IMG", help="cloud image to copy")
    cloud.add_argument("--vm", required=True, metavar="NAME", help="VM name from config.toml")
    cloud.add_argument(
        "--grow", default="20G", metavar="SIZE", help="grow the disk by SIZE (default 20G)"
    )
    cloud.add_argument(
        "--force", action="store_true", help="replace the VM's existing disk (its data is lost)"
    )
    ensure = image.command(
        "ensure",
        "build (or reuse) every image the named VMs need",
        'For each VM: the minimal guest for image = "minimal"; the Debian disk and the VM\'s '
        'prepared copy for image = "cloud" (a disk already prepared is kept). Says what it '
        "built and how long each step took. A fleet run does this on every host first.",
    )
    ensure.add_argument(
        "--vm", action="append", required=True, metavar="NAME", help="VM name (host is skipped)"
    )


def _import_command(top: _Commands) -> None:
    importer = top.command(
        "import",
        "import results measured elsewhere (mbw, tinymembench, redis CSV, tinyben, CSV)",
        "Parse every file first; store one run per profile, or nothing on error.",
    )
    importer.add_argument("files", nargs="+", metavar="FILE")
    importer.add_argument("--label", required=True, help="label of the imported run(s)")
    importer.add_argument("--profile", help="profile (VM) the values belong to")
    importer.add_argument(
        "--format",
        default="auto",
        choices=FORMATS,
        help="file format (default: recognise it)",
    )
    importer.add_argument("--benchmark-col", help="CSV column with the benchmark name")
    importer.add_argument("--value-col", help="CSV column with the value")
    importer.add_argument("--metric-col", help="CSV column with the metric name")
    importer.add_argument("--profile-col", help="CSV column with the profile (one run each)")
    importer.add_argument("--unit", help="unit of CSV values")
    importer.add_argument(
        "--direction",
        default="lower",
        choices=("lower", "higher"),
        help="whether lower or higher CSV values are better (default lower)",
    )


def _results_commands(results: _Commands) -> None:
    listing = results.command("list", "stored runs", "List stored runs.")
    listing.add_argument("--json", action="store_true", help="print JSON rows")
    show = results.command(
        "show",
        "one run's statistics per target and metric",
        "Statistics (n, mean, CI, CV) of RUN: an id, or a label (all its runs).",
    )
    show.add_argument("run", help="run id or label")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument(
        "--details",
        action="store_true",
        help="also where it ran: host, kernel, QEMU, each target's argv, kernel, firmware, "
        "guest's word and attestation, and every repetition with its launch, order and "
        "QEMU PID",
    )
    output = results.command(
        "output",
        "the raw output a repetition printed",
        "Print what one repetition (or a benchmark's setup, repetition 0) printed, as "
        "stored with the run (compressed) when it was measured.",
    )
    output.add_argument("run", type=int, help="run id")
    output.add_argument("target", help="target (host or a VM)")
    output.add_argument("benchmark", help="benchmark id")
    output.add_argument("repetition", type=int, help="repetition number (0: the setup)")
    _compare_command(results)
    _plot_command(results)
    merge = results.command(
        "merge",
        "copy runs from other sevtui databases into this one",
        "Copy every run of FILE... (targets, repetitions with raw outputs, measurements, "
        "attestations; memory probes too) into the results database. Runs are matched by "
        "UUID: merging the same run twice changes nothing. Older databases are upgraded in "
        "a private copy (the file is never changed), newer ones refused. Every value of every "
        "file is checked first: one bad value, a view or a trigger refuses the whole merge.",
    )
    merge.add_argument("files", nargs="+", metavar="FILE", help="sevtui.db files")
    merge.add_argument("--json", action="store_true", help="print JSON rows")


def _profiles(command: argparse.ArgumentParser) -> None:
    """--base and --other, as compare, plot and report take them."""
    command.add_argument("--base", required=True, help="baseline profile (e.g. nosev or host)")
    command.add_argument(
        "--other",
        required=True,
        action="append",
        help="profile compared with the base (e.g. sev-snp); repeat for several",
    )


def _compare_command(results: _Commands) -> None:
    comp = results.command(
        "compare",
        "overhead of one or more profiles relative to a base",
        "Per metric: means and overhead % (how much more time the same work takes: the ratio "
        "of mean times per unit of work) with Fieller's 95 % CI, over launches when each side "
        "has two or more; per benchmark: the same over each repetition's geometric mean of its "
        "headline metrics; per category and overall: geometric means over benchmarks with a "
        "95 % CI; * marks Benjamini-Hochberg adjusted p < 0.05. RUN is an id or a label.",
    )
    comp.add_argument("run", help="run id or label")
    _profiles(comp)
    comp.add_argument(
        "--along",
        metavar="PARAM",
        help="a sweep's overhead at each value of kind, vcpus or memory (one --other)",
    )
    comp.add_argument(
        "--by-host",
        action="store_true",
        help="one comparison per host that measured RUN (runs merged from several hosts)",
    )
    fmt = comp.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fmt.add_argument("--csv", action="store_true", help="print CSV")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table")


def _report_command(top: _Commands) -> None:
    report = top.command(
        "report",
        "a study's report folder: Markdown, HTML, figures, CSV and LaTeX tables",
        "Write DIR/report.md, a self-contained DIR/report.html (figure inline, nothing "
        "fetched), DIR/figures/overhead.{pdf,svg} and DIR/tables/*.csv and overhead.tex "
        "(booktabs): the system table (host CPU, memory, NUMA, config, kernel, QEMU; per "
        "profile kind, policy, vCPUs, memory, firmware with package and sha256, guest kernel, "
        "confirmed mode, attestation), the method as the runs stored it, overhead per "
        "category and benchmark with 95 % CIs, the memory probes and every warning. Every "
        "number comes from the database. RUN is an id or a label; give several to combine.",
    )
    report.add_argument("runs", nargs="+", metavar="RUN", help="run ids or labels")
    _profiles(report)
    report.add_argument("-o", "--output", required=True, metavar="DIR", help="report folder")
    report.add_argument("--force", action="store_true", help="replace the report already in DIR")


def _plot_command(results: _Commands) -> None:
    plot = results.command(
        "plot",
        "a paper figure of the overhead (PDF, SVG or PNG)",
        "Draw what `results compare` computes, with matplotlib: --kind overhead (default): "
        "one horizontal bar per benchmark and --other, grouped by category, 95 % CIs as "
        "error bars, category and overall means as diamonds; along: a sweep's overhead "
        "against --along PARAM, one line per benchmark with its CI band; by-host: one bar "
        "per host of merged runs; repetitions: every repetition of --benchmark B --metric M "
        "per profile, in the order measured. The format follows -o's suffix; PDF fonts are "
        "embedded, colours are colour-blind safe and hatched for grey print.",
    )
    plot.add_argument("run", help="run id or label")
    _profiles(plot)
    plot.add_argument(
        "--kind", default="overhead", choices=PLOT_KINDS, help="what to draw (default overhead)"
    )
    plot.add_argument("--along", metavar="PARAM", default="", help="sweep parameter (--kind along)")
    plot.add_argument("--benchmark", help="benchmark id (--kind repetitions)")
    plot.add_argument("--metric", help="metric name (--kind repetitions)")
    plot.add_argument(
        "--width",
        type=float,
        default=ONE_COLUMN_IN,
        metavar="INCHES",
        help="figure width (default 3.3: one column of a two-column paper; 7: full width)",
    )
    plot.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="FILE.pdf, FILE.svg or FILE.png"
    )


def _positive(text: str) -> int:
    """A whole number of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _run_options(command: argparse.ArgumentParser) -> None:
    """The options `bench run` and `bench sweep` share."""
    command.add_argument("--suite", default="quick", help="suite name (default quick)")
    command.add_argument(
        "--repetitions",
        type=_positive,
        metavar="N",
        help="repetitions per launch, fixed before the run (default bench.repetitions); with "
        "--precision, the pilot",
    )
    command.add_argument(
        "--warmup",
        type=int,
        metavar="N",
        help="unrecorded runs per benchmark, target and launch (default bench.warmup; "
        "bench.warmups sets one benchmark's; boot time has none: it measures cold boots)",
    )
    command.add_argument(
        "--launches",
        type=_positive,
        metavar="L",
        help="boot each VM L times (the host: L batches), repetitions nested in each; the "
        "interval is taken over launches when L >= 2 (default bench.launches: 3 for the "
        "seed suite, else 1)",
    )
    command.add_argument(
        "--order",
        choices=("random", "fixed"),
        default="random",
        help="each round's target order: drawn from the run's seed (default), or as given",
    )
    command.add_argument(
        "--seed", type=int, metavar="N", help="seed of the random order (default: a new one)"
    )
    command.add_argument(
        "--precision",
        type=float,
        metavar="P",
        help="adaptive mode: the N repetitions are a pilot (kept, not analysed) that fixes "
        "how many more give a 95 %% CI half-width below P %% of the mean (at most "
        "bench.max_repetitions); default: no, N repetitions are measured",
    )
    command.add_argument("--label", help="run label (default SUITE-DATE)")
    command.add_argument(
        "--events",
        metavar="FILE",
        help="also append each progress event to FILE as a JSON line (for tools)",
    )
    command.add_argument(
        "--concurrent",
        action="store_true",
        help="run each repetition on all targets at the same time (noisy neighbours) instead "
        "of one after another; stored with the run",
    )


def _bench_commands(bench: _Commands) -> None:
    run = bench.command(
        "run",
        "run a suite on one or more VMs (and/or host)",
        "Starts VMs that are not running, runs the suite on each, interleaving targets per "
        "repetition, and stores every value as it is parsed. `host` is the bare-metal baseline.",
    )
    run.add_argument(
        "--vm", action="append", required=True, metavar="NAME", help="VM name or host (repeatable)"
    )
    _run_options(run)
    run.add_argument(
        "--resume",
        action="store_true",
        help="when a run with --label exists, continue the newest one instead (done: measure "
        "nothing)",
    )
    sweep = bench.command(
        "sweep",
        "run a suite on VM variants: every combination of --vary values for each --vm",
        "Derives one variant per combination from each named VM (sev-snp@vcpus=2+memory=4G: "
        "its own state dir and QEMU), runs them in an order that interleaves the kinds, and "
        "stores each variant's parameters with its target. Variants this host cannot run are "
        "recorded as unavailable; the rest go on. `bench resume` continues a sweep.",
    )
    sweep.add_argument("--vm", action="append", required=True, metavar="NAME", help="VM to vary")
    sweep.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="PARAM=V1,V2",
        help="kind, vcpus or memory and its values (repeatable), e.g. vcpus=1,2,4",
    )
    _run_options(sweep)
    resume = bench.command(
        "resume",
        "run only what an interrupted run is missing",
        "Continue an interrupted run: measures only the missing repetitions.",
    )
    resume.add_argument("run", help="run id")
    resume.add_argument(
        "--events", metavar="FILE", help="also append each progress event to FILE as JSON"
    )
    listing = bench.command(
        "list",
        "benchmarks and suites",
        "The catalog: built-in and config.toml benchmarks and suites.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
