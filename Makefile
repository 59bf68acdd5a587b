# sevtui: `make run` and `make test` do all set-up on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config.toml
# QEMU >= 9.1 and the AmdSev OVMF build for the tests, unpacked here, never installed.
UPSTREAM_QEMU := .cache/upstream-qemu
TDX_QEMU := .cache/tdx-qemu
# Debian/Ubuntu packages sevtui drives: QEMU and firmware, guest-image tools, the
# benchmark programs (gcc builds sevtui-exits), gdb (gcore) for the memory probe, tmux
# for end-to-end tests.
SYSTEM_PACKAGES := qemu-system-x86 qemu-utils ovmf cloud-image-utils busybox-static cpio \
	mmdebstrap e2fsprogs dosfstools mtools fdisk fio \
	lz4 sqlite3 mbw redis-server redis-tools gdb tmux openssh-client openssh-server \
	debian-archive-keyring gcc libc6-dev numactl iperf3

.PHONY: help run test check lint typecheck pytest system-deps venv bytecode image upstream-qemu \
	bench fuzz soak clean

help:
	@echo "make run    install what is missing, build the demo guest, open sevtui with $(CONFIG)"
	@echo "make test   install what is missing, then ruff, mypy and pytest"
	@echo "make check  the fast loop: lint, types and every test that needs no guest (< 3 min)"
	@echo "make bench  print sevtui's own speed and memory figures"
	@echo "make fuzz   config and parser fuzzing with many more examples"
	@echo "make soak   50 rounds of kill -9 during measurement writes"
	@echo "make clean  remove the virtualenv and caches"

# Install missing system packages with apt-get as root; otherwise name them and stop.
system-deps:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "sevtui needs these system packages:$$missing"; \
	    echo "install them with:"; \
	    echo "  sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	@# setuptools warns about editable installs of a flat layout in a box; nothing to act on.
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

venv: $(STAMP)

# Byte-compile sevtui ahead of time, as an installed package would be: with
# PYTHONDONTWRITEBYTECODE set, every start would otherwise compile it before the first frame.
bytecode: venv
	@$(BIN)/python -m compileall -q sevtui

# Build the minimal demo guest (kernel + busybox initramfs); a no-op when up to date.
image: system-deps venv
	$(BIN)/sevtui --config $(CONFIG) image build

run: system-deps venv bytecode image
	$(BIN)/sevtui --config $(CONFIG)

lint: venv
	$(BIN)/ruff check sevtui tests bench
	$(BIN)/ruff format --check sevtui tests bench
	cd deploy/ansible && PATH="$(CURDIR)/$(BIN):$$PATH" ansible-lint --offline -q playbook.yml

typecheck: venv
	$(BIN)/mypy

# Upstream QEMU and firmware for the confidential-launch checks (tests only).
upstream-qemu: system-deps
	tests/tools/upstream-qemu.sh $(UPSTREAM_QEMU)
	tests/tools/tdx-qemu.sh $(TDX_QEMU)

# The heavy end-to-end tests (a Debian guest built, booted and measured under TCG; a
# fleet of two loopback sshd hosts) take as long as the rest together: they run beside
# them at a lower priority (nice 10, QEMU included), so the rest keeps its timing; their
# output is kept in .cache/heavy-tests.log and shown at the end.
pytest: venv image upstream-qemu
	@mkdir -p .cache
	@nice -n 10 $(BIN)/pytest -m heavy -p no:cacheprovider > .cache/heavy-tests.log 2>&1 & \
	heavy=$$!; \
	$(BIN)/pytest -m "not heavy"; rest=$$?; \
	wait $$heavy; heavy_status=$$?; \
	echo "--- heavy end-to-end tests (ran beside the rest; full log: .cache/heavy-tests.log) ---"; \
	if [ $$heavy_status -eq 0 ]; then tail -n 5 .cache/heavy-tests.log; \
	else tail -n 150 .cache/heavy-tests.log; fi; \
	[ $$rest -eq 0 ] && [ $$heavy_status -eq 0 ]

test: system-deps lint typecheck pytest

# The daily loop: lint, types, and the unit and app tests (no guest image, no QEMU boot,
# no upstream QEMU), two at a time with pytest-xdist.
check: venv lint typecheck
	$(BIN)/pytest -q -n 2 -p no:cacheprovider -m "not slow and not heavy" tests/unit tests/tui

# Performance figures of sevtui itself (printed, not asserted).
bench: system-deps venv bytecode image
	$(BIN)/python bench/vm_lifecycle.py
	$(BIN)/python bench/tui_startup.py
	$(BIN)/python bench/probe_scan.py
	$(BIN)/python bench/compare.py

# Longer fault runs than `make test` does: config fuzzing and kill -9 during writes.
fuzz: venv
	SEVTUI_FUZZ_EXAMPLES=2000 $(BIN)/pytest tests/unit/test_faults.py tests/unit/test_parsers.py -k "fuzz or mangled"

soak: venv image
	SEVTUI_SOAK_REPS=50 $(BIN)/pytest tests/integration/test_faults.py -k sigkill

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .cache
