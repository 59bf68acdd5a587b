#!/usr/bin/env bash
# Fetch an upstream QEMU (>= 9.1) and the AmdSev OVMF build into a cache folder for the
# tests, without installing anything: a private apt sources list and state dir,
# `apt-get download`, then `dpkg -x`. The system QEMU is never touched.
#
#   tests/tools/upstream-qemu.sh CACHE_DIR
#
# On Debian 12 QEMU comes from bookworm-backports (its libraries match bookworm's);
# ovmf-amdsev (architecture all, firmware only) comes from sid. Elsewhere, a system QEMU
# >= 9.1 is used as it is and only the firmware is fetched.
set -euo pipefail

cache=${1:?usage: upstream-qemu.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
root="$cache/root"
stamp="$cache/.complete"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=${SEVTUI_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ -f "$stamp" ]; then
  exit 0
fi

. /etc/os-release
packages=(ovmf-amdsev/sid)
suites="sid"
if [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ]; then
  packages+=(qemu-system-x86/bookworm-backports qemu-system-common/bookworm-backports
    qemu-system-data/bookworm-backports)
  suites="bookworm-backports sid"
else
  echo "upstream-qemu: not Debian 12; using the system QEMU for the upstream checks"
fi
if [ ! -r "$keyring" ]; then
  echo "upstream-qemu: $keyring is missing: install debian-archive-keyring" >&2
  exit 1
fi

apt_dir="$cache/apt"
rm -rf "$apt_dir" "$root"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$root"
for suite in $suites; do
  echo "deb [signed-by=$keyring] $mirror $suite main"
done >"$apt_dir/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "APT::Sandbox::User=$(id -un)"
)
echo "upstream-qemu: fetching ${packages[*]} into $cache"
apt-get -qq "${apt_options[@]}" update
(cd "$apt_dir/debs" && apt-get -qq "${apt_options[@]}" download "${packages[@]}")
for deb in "$apt_dir/debs"/*.deb; do
  dpkg -x "$deb" "$root"
done
rm -rf "$apt_dir"
if [ -x "$root/usr/bin/qemu-system-x86_64" ]; then
  "$root/usr/bin/qemu-system-x86_64" --version | head -n 1
fi
touch "$stamp"
