"""config.toml: pydantic models, the search order, and readable validation errors."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from sevtui.base.errors import ConfigError
from sevtui.base.kinds import VM_KINDS, VmKind
from sevtui.base.sizes import format_size, parse_size

__all__ = [
    "VM_KINDS",
    "Config",
    "VmConfig",
    "VmKind",
    "format_size",
    "load_config",
    "parse_size",
]

MAX_CONFIG_BYTES = 1 << 20
VM_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
RESERVED_VM_NAMES = frozenset({"host"})


def parse_int(value: object) -> int:
    """Accept 196608, '196608' or '0x30000' (policies are written in hex)."""
    if isinstance(value, bool):
        raise ValueError("expected an integer such as 0x30000")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            pass
    raise ValueError("expected an integer such as 0x30000")


Size = Annotated[int, BeforeValidator(parse_size), PlainSerializer(format_size)]
HexInt = Annotated[int, BeforeValidator(parse_int), PlainSerializer(hex)]


IMAGE_KEYWORDS = ("minimal", "cloud")
"""`vm.NAME.image` values that are not paths: the built-in guest, the prepared cloud disk."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var) or str(Path.home() / fallback)
    return Path(base) / "sevtui"


class PathsConfig(_Model):
    """Where sevtui keeps its files."""

    data_dir: Path = Field(
        default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share"),
        description="Results database and guest images live here.",
    )
    state_dir: Path = Field(
        default_factory=lambda: _xdg("XDG_STATE_HOME", ".local/state"),
        description="One private directory per running VM (QMP socket, pidfile, logs).",
    )
    image_dir: Path | None = Field(
        default=None, description="Built guest images; default: DATA_DIR/images."
    )
    database: Path | None = Field(
        default=None, description="SQLite results database; default: DATA_DIR/sevtui.db."
    )

    @property
    def images(self) -> Path:
        """The directory that holds built guest images."""
        return self.image_dir or self.data_dir / "images"

    @property
    def sources(self) -> Path:
        """The cache of pinned benchmark sources (fetched once, copied into targets)."""
        return self.data_dir / "sources"

    @property
    def db(self) -> Path:
        """The results database file."""
        return self.database or self.data_dir / "sevtui.db"


class QemuConfig(_Model):
    """Which QEMU to run and how."""

    binary: str = Field(default="qemu-system-x86_64", description="QEMU system emulator.")
    img: str = Field(default="qemu-img", description="qemu-img, for disk images.")
    accel: Literal["auto", "kvm", "tcg"] = Field(
        default="auto",
        description="auto uses KVM only when a short probe shows it can run a guest.",
    )
    snp_dialect: Literal["auto", "upstream", "amd-fork"] = Field(
        default="auto",
        description="SEV-SNP option syntax: upstream QEMU >= 9.1 or AMD's patched fork.",
    )


class ImageConfig(_Model):
    """The built-in guests: `minimal` (kernel + busybox initramfs) and `debian` (a disk)."""

    kernel: Path | None = Field(
        default=None,
        description="Guest kernel; default: the host's /boot/vmlinuz-$(uname -r) when "
        "readable, else Debian's linux-image-amd64.",
    )
    debian_mirror: str = Field(
        default="http://deb.debian.org/debian",
        pattern=r"^(https?|file)://\S+$",
        description="Debian mirror the `debian` image is built from (mmdebstrap).",
    )


class VmConfig(_Model):
    """One VM profile, `[vm.NAME]`."""

    kind: VmKind = Field(
        default="nosev", description="nosev, sev, sev-es, sev-snp (AMD) or tdx (Intel)."
    )
    vcpus: int = Field(default=1, ge=1, le=512, description="Number of virtual CPUs.")
    memory: Size = Field(
        default=512, description="Guest RAM, e.g. 512M or 16G (a bare number is MiB)."
    )
    cpu: str = Field(
        default="", description="QEMU -cpu model; empty: host under KVM, max under TCG."
    )
    machine: str = Field(default="q35", description="QEMU machine type.")
    image: str = Field(
        default="minimal",
        description='"minimal", "cloud" (the disk `image prepare-cloud` made for this VM) '
        "or a path to a disk image.",
    )
    firmware: Path | None = Field(
        default=None, description="OVMF code file; empty: direct kernel boot or a default."
    )
    firmware_vars: Path | None = Field(
        default=None, description="OVMF variables template; each VM gets its own copy."
    )
    cloud_init: Path | None = Field(default=None, description="cloud-init seed ISO (cdrom).")
    network: str = Field(
        default="user",
        description='"user" (NAT, ssh forward on 127.0.0.1), a bridge name, or "tap:IFNAME".',
    )
    mac: str = Field(default="", description="NIC MAC address; empty: derived from the name.")
    vhost: bool = Field(
        default=False,
        description="The tap device's data path in the host kernel (vhost-net) instead of "
        'QEMU; tap networking only (network = "tap:IFNAME").',
    )
    queues: int = Field(
        default=1,
        ge=1,
        le=16,
        description="NIC queue pairs (multiqueue tap, mq=on, vectors=2N+2); tap networking only.",
    )
    guest_address: str = Field(
        default="",
        pattern=r"^$|^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$",
        description="The guest's IPv4 address/prefix on its tap or bridge network (the "
        "minimal guest sets it itself; a disk guest must have it): how the host reaches "
        "the guest's iperf3 server; empty: not reachable from the host.",
    )
    numa_node: int | None = Field(
        default=None,
        ge=0,
        le=1023,
        description="Host NUMA node to bind QEMU's vCPUs and memory to (numactl); empty: "
        "not bound.",
    )
    numa_balancing: Literal[0, 1] | None = Field(
        default=None,
        description="The host's kernel.numa_balancing while this VM is measured (a sweep "
        "sets it as root and puts the old value back when the run ends, however it ends); "
        "empty: left as it is.",
    )
    idle: Literal["default", "poll", "haltpoll"] = Field(
        default="default",
        description='How the guest idles: "poll" (idle=poll: never halts, so no exit to the '
        'host), "haltpoll" (cpuidle_haltpoll.force=Y: polls a while before halting); direct '
        "kernel boot only.",
    )
    bounce: Literal["off", "force"] = Field(
        default="off",
        description='"force": the guest kernel boots with swiotlb=force, so every virtio DMA '
        "goes through bounce buffers as in a confidential VM, without encryption (direct "
        "kernel boot only).",
    )
    ssh_port: int = Field(
        default=0, ge=0, le=65535, description="Host port for ssh with network=user; 0: none."
    )
    ssh_user: str = Field(
        default="sevtui",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="Guest user for ssh (cloud guests; prepare-cloud creates 'sevtui').",
    )
    policy: HexInt | None = Field(
        default=None,
        description="SEV guest policy (default 0x1 sev, 0x5 sev-es, 0x30000 snp), or the TD "
        "attributes of a tdx guest (default 0x10000000: SEPT_VE_DISABLE).",
    )
    cbitpos: int | None = Field(
        default=None, ge=0, le=63, description="C-bit position; default: from host CPUID."
    )
    reduced_phys_bits: int = Field(
        default=1, ge=0, le=63, description="Guest physical address bit reduction."
    )
    host_data: str = Field(
        default="", description="SEV-SNP host-data: base64 of 32 bytes (QEMU >= 9.1)."
    )
    id_block: str = Field(default="", description="SEV-SNP ID block: base64 of 96 bytes.")
    id_auth: str = Field(
        default="", description="SEV-SNP ID authentication: base64 of at most 4096 bytes."
    )
    guest_visible_workarounds: str = Field(
        default="", description="SEV-SNP guest-visible workarounds: base64 of 16 bytes."
    )
    mrconfigid: str = Field(
        default="", description="TDX MRCONFIGID: base64 of a 48-byte SHA-384 digest."
    )
    mrowner: str = Field(default="", description="TDX MROWNER: base64 of a 48-byte digest.")
    mrownerconfig: str = Field(
        default="", description="TDX MROWNERCONFIG: base64 of a 48-byte digest."
    )
    extra_args: list[str] = Field(
        default_factory=list, description="More QEMU arguments, one argv element each."
    )

    @field_validator("network")
    @classmethod
    def _network_name(cls, value: str) -> str:
        if value != "user" and not re.fullmatch(r"(tap:)?[A-Za-z0-9_.-]{1,15}", value):
            raise ValueError(
                'use "user", a bridge name or "tap:IFNAME" (letters, digits, _ . -; max 15)'
            )
        return value

    @model_validator(mode="after")
    def _device_path_needs_a_tap(self) -> VmConfig:
        """vhost and queues are a tap device's; a guest address needs tap or bridge."""
        wanted = [key for key, on in (("vhost", self.vhost), ("queues", self.queues > 1)) if on]
        if wanted and not self.network.startswith("tap:"):
            what = "QEMU's user network (slirp)" if self.network == "user" else "a bridge netdev"
            raise ValueError(
                f"{' and '.join(wanted)} {'need' if len(wanted) > 1 else 'needs'} a tap device "
                f'(network = "tap:IFNAME"): '
                f"{what} has neither"
            )
        if self.guest_address and self.network == "user":
            raise ValueError(
                'guest_address is for tap or bridge networking: with network = "user" '
                "sevtui reaches the guest through ports QEMU forwards"
            )
        return self

    @field_validator("numa_node", "numa_balancing", mode="before")
    @classmethod
    def _no_node(cls, value: object) -> object:
        """`none` (a sweep's value) means not bound / left as it is; digits are numbers."""
        if isinstance(value, str) and value.lower() == "none":
            return None
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @field_validator("mac")
    @classmethod
    def _mac_address(cls, value: str) -> str:
        if value and not re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", value):
            raise ValueError("use six hex pairs such as 52:54:00:cc:62:03")
        return value.lower()

    @field_validator("extra_args")
    @classmethod
    def _no_nul(cls, value: list[str]) -> list[str]:
        if any("\0" in arg for arg in value):
            raise ValueError("arguments cannot contain NUL bytes")
        return value


class BenchConfig(_Model):
    """How benchmarks are repeated and judged."""

    repetitions: int = Field(default=3, ge=1, le=1000, description="Repetitions per benchmark.")
    max_repetitions: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Cap of repetitions per launch for the adaptive mode (--precision).",
    )
    cv_threshold_pct: float = Field(
        default=3.5,
        gt=0,
        description="Flag a metric as noisy (~) when its CV exceeds this (percent); "
        "repetitions are never added for it.",
    )
    timeout_s: float = Field(default=1800, gt=0, description="Per-benchmark timeout (s).")
    warmup: int = Field(
        default=1,
        ge=0,
        le=10,
        description="Unrecorded runs per benchmark, target and launch before its repetitions.",
    )
    warmups: dict[str, int] = Field(
        default_factory=dict,
        description="Benchmark id -> its own warm-up count (overrides bench.warmup).",
    )
    launches: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Launches per run: each VM booted this many times, the host measured "
        "in as many batches; default: 3 for the seed suite, 1 for the others.",
    )
    headline: dict[str, str] = Field(
        default_factory=dict,
        description="Benchmark id -> regex of its headline metrics (overrides the catalog).",
    )
    attest: bool = Field(
        default=True,
        description="Ask each VM for an SEV-SNP attestation report when a run opens it.",
    )

    @field_validator("headline")
    @classmethod
    def _headline_regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for bench_id, pattern in value.items():
            _check_regex(pattern, f"headline of {bench_id}")
        return value


class BenchmarkConfig(_Model):
    """A user benchmark, `[benchmark.ID]`: runs in the target's shell in $SEVTUI_WORK."""

    title: str = Field(default="", description="Shown in tables; default: the id.")
    category: Literal["cpu", "memory", "io", "network", "exits", "other"] = Field(
        default="other", description="cpu, memory, io, network, exits or other."
    )
    command: str = Field(description="Shell command measured (timed inside the target).")
    parser: Literal["elapsed", "mbw", "tinymembench", "redis-csv", "fio-json", "exits"] = Field(
        default="elapsed", description="How to read the output; elapsed: wall time in seconds."
    )
    needs: list[str] = Field(default_factory=list, description="Commands the target must have.")
    setup: str = Field(default="", description="Shell run once per target before measuring.")
    timeout_s: float | None = Field(default=None, gt=0, description="Overrides bench.timeout_s.")
    headline: str = Field(
        default="", description="Regex of the headline metrics; empty: every metric."
    )

    @field_validator("headline")
    @classmethod
    def _headline_regex(cls, value: str) -> str:
        return _check_regex(value, "headline")


class AttestConfig(_Model):
    """Where VCEKs come from when verifying SEV-SNP attestation reports."""

    kds_url: str = Field(
        default="https://kdsintf.amd.com",
        pattern=r"^https?://[^\s]+$",
        description="AMD's key distribution service (VCEKs are fetched once, then cached).",
    )
    product: Literal["", "Milan", "Genoa", "Turin"] = Field(
        default="", description="The EPYC product; empty: from the report or this host's CPU."
    )
    vcek_cache: Path | None = Field(
        default=None,
        description="Cache folder for VCEKs and TD quote collateral; default: DATA_DIR/attest.",
    )
    pcs_url: str = Field(
        default="https://api.trustedservices.intel.com",
        pattern=r"^https?://[^\s]+$",
        description="Intel's PCS (or your own PCCS) for TD quote collateral, fetched once per "
        "platform, then cached.",
    )

    @field_validator("kds_url", "pcs_url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if "@" in value.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError(
                "the URL holds a user name or password (user:pass@host): sevtui would print "
                "it; the service needs none, so give the URL without them"
            )
        return value


def _default_vms() -> dict[str, VmConfig]:
    return {"demo": VmConfig()}


class Config(_Model):
    """The whole of config.toml."""

    paths: PathsConfig = Field(default_factory=PathsConfig)
    qemu: QemuConfig = Field(default_factory=QemuConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    bench: BenchConfig = Field(default_factory=BenchConfig)
    attest: AttestConfig = Field(default_factory=AttestConfig)
    vm: dict[str, VmConfig] = Field(default_factory=_default_vms)
    benchmark: dict[str, BenchmarkConfig] = Field(default_factory=dict)
    suites: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("vm")
    @classmethod
    def _vm_names(cls, value: dict[str, VmConfig]) -> dict[str, VmConfig]:
        for name in value:
            check_vm_name(name)
        return value


def _check_regex(pattern: str, what: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{what} {pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


def check_vm_name(name: str) -> str:
    """Reject names that could not be a directory, a QEMU -name or a table key."""
    if name in RESERVED_VM_NAMES:
        raise ValueError(f"{name!r} is reserved (it names the bare-metal baseline)")
    if not VM_NAME_RE.fullmatch(name):
        raise ValueError(
            f"{_short(name)} is not a valid VM name: use letters, digits, _ . - "
            "(start with a letter or digit, at most 63 characters)"
        )
    return name


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and where it came from (None: built-in defaults)."""

    config: Config
    source: Path | None


def find_config(explicit: Path | None) -> Path | None:
    """The config file to use: --config, ./config.toml, XDG config, or none."""
    if explicit is not None:
        return explicit
    local = Path("config.toml")
    if local.is_file():
        return local
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidate = xdg / "sevtui" / "config.toml"
    return candidate if candidate.is_file() else None


def load_config(explicit: Path | None = None) -> LoadedConfig:
    """Find, parse and validate config.toml; raise ConfigError listing every problem."""
    path = find_config(explicit)
    if path is None:
        return LoadedConfig(Config(), None)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                [f"{path}: not a regular file"], "pass a config.toml file with --config"
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                [f"{path}: {info.st_size} bytes; a config is at most {MAX_CONFIG_BYTES >> 20} MiB"],
                "pass the right file with --config",
            )
        raw = path.read_bytes()[:MAX_CONFIG_BYTES]
    except OSError as exc:
        raise ConfigError(
            [f"{path}: cannot read: {exc.strerror or exc}"],
            "pass an existing file with --config, or omit it to use the defaults",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    return LoadedConfig(parse_config(text, path), path)


def parse_config(text: str, path: Path) -> Config:
    """Validate TOML text; relative paths are taken relative to the file's folder."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, data, path)) from None
    base = path.parent
    problems = _resolve_paths(config, base, path)
    if problems:
        raise ConfigError(problems)
    return config


def _resolve_paths(config: Config, base: Path, path: Path) -> list[str]:
    """Make relative paths absolute and report referenced files that are missing."""
    problems: list[str] = []

    def resolve(value: Path | None, key: str, must_exist: bool) -> Path | None:
        if value is None:
            return None
        resolved = value.expanduser()
        if not resolved.is_absolute():
            resolved = base / resolved
        resolved = Path(os.path.abspath(resolved))
        if must_exist and not resolved.is_file():
            problems.append(f"{path}: {key} = {str(value)!r}: file not found ({resolved})")
        return resolved

    paths = config.paths
    paths.data_dir = resolve(paths.data_dir, "paths.data_dir", False) or paths.data_dir
    paths.state_dir = resolve(paths.state_dir, "paths.state_dir", False) or paths.state_dir
    paths.image_dir = resolve(paths.image_dir, "paths.image_dir", False)
    paths.database = resolve(paths.database, "paths.database", False)
    config.image.kernel = resolve(config.image.kernel, "image.kernel", True)
    config.attest.vcek_cache = resolve(config.attest.vcek_cache, "attest.vcek_cache", False)
    for name, vm in config.vm.items():
        prefix = f"vm.{name}"
        vm.firmware = resolve(vm.firmware, f"{prefix}.firmware", True)
        vm.firmware_vars = resolve(vm.firmware_vars, f"{prefix}.firmware_vars", True)
        vm.cloud_init = resolve(vm.cloud_init, f"{prefix}.cloud_init", True)
        if vm.image not in IMAGE_KEYWORDS:
            image = resolve(Path(vm.image), f"{prefix}.image", True)
            vm.image = str(image)
    return problems


def _describe(exc: ValidationError, data: Mapping[str, Any], path: Path) -> list[str]:
    """One line per pydantic error: file, key path, the value given, what is wrong."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        key = ".".join(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            lines.append(f"{path}: {key}: unknown key (check the spelling in config.toml)")
            continue
        if error["type"] == "missing":
            lines.append(f"{path}: {key}: required key is missing")
            continue
        value = _lookup(data, error["loc"])
        masked = _CREDENTIALS.sub(r"\1***@", _short(value))
        shown = f" = {masked}" if value is not _MISSING else ""
        lines.append(f"{path}: {key}{shown}: {message}")
    return lines


_MISSING = object()
_CREDENTIALS = re.compile(r"(://[^/@:\s]*:)[^@/\s]*@")
"""The password of a user:password@host URL, masked wherever a value is shown."""


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    current = data
    for part in loc:
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return current


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dump_config(config: Config) -> dict[str, Any]:
    """The effective config as plain data (sizes and policies in their written form)."""
    return config.model_dump(mode="json")
