#!/usr/bin/env bash
# Set-up for `npm run test:kernel`: Debian's current 6.1 kernel and its 6.12 kernel, each as
#   - the image (vmlinuz, config, modules), downloaded with apt-get download and unpacked with
#     dpkg-deb -x into the cache (nothing is installed into /boot),
#   - its headers (linux-headers-<abi>-amd64, installed: kbuild builds against them),
#   - its source tree (linux-source-6.1 / linux-source-6.12, unpacked under /usr/src),
# plus qemu, busybox and the tools the guest and the build need. ABI names are looked up with
# apt-cache, never written down here. Writes <cache>/manifest.json for the test runner.
# Idempotent: what is already there is not fetched again.
set -euo pipefail

CACHE="${KLP_LENS_KERNEL_CACHE:-$HOME/.cache/livepatch-lens/kernels}"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else echo "kernel-setup: needs root or sudo (apt-get)" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$CACHE"

have_pkgs() { dpkg-query -W -f='${Status}\n' "$@" 2>/dev/null | grep -c '^install ok installed$' | grep -qx "$#"; }

TOOLS="qemu-system-x86 busybox-static cpio gzip xz-utils kmod gcc libc6-dev make binutils linux-source-6.1 linux-source-6.12"
if ! have_pkgs $TOOLS; then
  echo "== apt: $TOOLS"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $TOOLS >/dev/null
fi

for v in 6.1 6.12; do
  if [ ! -f "/usr/src/linux-source-$v/Makefile" ]; then
    echo "== unpacking /usr/src/linux-source-$v.tar.xz"
    $SUDO tar -C /usr/src -xJf "/usr/src/linux-source-$v.tar.xz"
  fi
done

# a real package with a candidate version (not a virtual name another package provides)
pkg_exists() { local p; p=$(apt-cache policy "$1" 2>/dev/null); [[ $p == *"Candidate: "[0-9]* ]]; }
pkg_version() { apt-cache show "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -1; }

# 6.1: the ABI Debian's linux-image-amd64 points at.
abi61=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(6\.1\.[^ ]*\)-amd64$/\1/p' | head -1)
[ -n "$abi61" ] || { echo "kernel-setup: apt-cache depends linux-image-amd64 names no 6.1 image" >&2; exit 1; }

# 6.12: the image whose upstream version is linux-source-6.12's, signed or unsigned; else the meta package's.
src612=$(dpkg-query -W -f='${Version}' linux-source-6.12)
up612=${src612%%-*}
abi612="$up612+deb12"
if ! pkg_exists "linux-image-$abi612-amd64" && ! pkg_exists "linux-image-$abi612-amd64-unsigned"; then
  abi612=$(apt-cache depends linux-image-6.12-amd64 | sed -n 's/.*Depends: linux-image-\(6\.12\.[^ ]*\)-amd64$/\1/p' | head -1)
  [ -n "$abi612" ] || { echo "kernel-setup: no 6.12 image found (linux-image-6.12-amd64)" >&2; exit 1; }
fi

image_pkg() {
  if pkg_exists "linux-image-$1-amd64"; then echo "linux-image-$1-amd64"; else echo "linux-image-$1-amd64-unsigned"; fi
}

entries=()
for pair in "6.1:$abi61:6.1" "6.12:$abi612:6.12"; do
  IFS=: read -r id abi srcv <<<"$pair"
  pkg=$(image_pkg "$abi")
  full="$abi-amd64"
  dir="$CACHE/$full"
  if [ ! -f "$dir/boot/vmlinuz-$full" ]; then
    echo "== $pkg: download and unpack into $dir"
    tmp=$(mktemp -d)
    chmod 755 "$tmp" && { chown _apt "$tmp" 2>/dev/null || true; }
    (cd "$tmp" && apt-get download -qq "$pkg")
    rm -rf "$dir.part" && mkdir -p "$dir.part"
    dpkg-deb -x "$tmp"/*.deb "$dir.part"
    rm -rf "$tmp" "$dir" && mv "$dir.part" "$dir"
  fi
  if [ ! -f "/usr/src/linux-headers-$full/Makefile" ]; then
    echo "== apt: linux-headers-$full"
    $SUDO apt-get install -y -qq --no-install-recommends "linux-headers-$full" >/dev/null
  fi
  imgver=$(pkg_version "$pkg")
  srcver=$(dpkg-query -W -f='${Version}' "linux-source-$srcv")
  differs=false
  if [ "${imgver%%-*}" != "${srcver%%-*}" ]; then
    differs=true
    echo "note: linux-source-$srcv is $srcver, the $id image is $imgver: the fixtures apply to the tree with offsets, the symbol table is the image's"
  fi
  entries+=("$(printf '{"id":"%s","abi":"%s","package":"%s","version":"%s","vmlinuz":"%s","config":"%s","modules":"%s","headers":"%s","source":"%s","sourceVersion":"%s","sourceDiffers":%s}' \
    "$id" "$full" "$pkg" "$imgver" "$dir/boot/vmlinuz-$full" "$dir/boot/config-$full" "$dir/lib/modules/$full" "/usr/src/linux-headers-$full" "/usr/src/linux-source-$srcv" "$srcver" "$differs")")
done

manifest="$CACHE/manifest.json"
{ printf '{"kernels":['; (IFS=,; printf '%s' "${entries[*]}"); printf ']}\n'; } >"$manifest.part"
mv "$manifest.part" "$manifest"
echo "== kernels ready: $manifest"
