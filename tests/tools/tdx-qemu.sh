#!/usr/bin/env bash
# Fetch QEMU >= 10.1 (tdx-guest) from Debian's trixie-backports with every library it
# links, and the IntelTdx OVMF build from sid, into a cache folder for the tests: a
# private apt sources list and state, `apt-get download`, `dpkg -x`. Nothing is
# installed and the system QEMU is never touched. Trixie's libraries need trixie's C
# library, so QEMU runs under the unpacked loader: CACHE/qemu-system-x86_64 is a small
# wrapper that does that (and passes -L for QEMU's own data files).
#
#   tests/tools/tdx-qemu.sh CACHE_DIR
set -euo pipefail

cache=${1:?usage: tdx-qemu.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
root="$cache/root"
stamp="$cache/.complete"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=${SEVTUI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
version=${SEVTUI_TDX_QEMU_VERSION:-1:11.1.3+ds-2~bpo13+1}

if [ -f "$stamp" ]; then
  exit 0
fi
if [ ! -r "$keyring" ]; then
  echo "tdx-qemu: $keyring is missing: install debian-archive-keyring" >&2
  exit 1
fi

apt_dir="$cache/apt"
rm -rf "$apt_dir" "$root"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$root"
for suite in trixie trixie-backports sid; do
  echo "deb [signed-by=$keyring] $mirror $suite main"
done >"$apt_dir/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::State::status=/dev/null"
  -o "Dir::Cache=$apt_dir/cache"
  -o "APT::Default-Release=trixie"
  -o "APT::Sandbox::User=$(id -un)"
)
echo "tdx-qemu: fetching qemu-system-x86 $version, its libraries and ovmf-inteltdx into $cache"
apt-get -qq "${apt_options[@]}" update
libraries=$(apt-cache "${apt_options[@]}" depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances --no-pre-depends \
  "qemu-system-x86=$version" | grep -E '^(lib|zlib)' | sort -u)
# shellcheck disable=SC2086
(cd "$apt_dir/debs" && apt-get -qq "${apt_options[@]}" download $libraries \
  "qemu-system-x86=$version" "qemu-system-common=$version" "qemu-system-data=$version" \
  ovmf-inteltdx/sid)
for deb in "$apt_dir/debs"/*.deb; do
  dpkg -x "$deb" "$root"
done
rm -rf "$apt_dir"
cat >"$cache/qemu-system-x86_64" <<WRAPPER
#!/bin/sh
# QEMU from trixie-backports under trixie's own loader and libraries (tests only).
exec "$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu" \
  "$root/usr/bin/qemu-system-x86_64" -L "$root/usr/share/qemu" "\$@"
WRAPPER
chmod +x "$cache/qemu-system-x86_64"
"$cache/qemu-system-x86_64" --version | head -n 1
touch "$stamp"
