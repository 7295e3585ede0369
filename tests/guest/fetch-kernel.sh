#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Fetch what a Linux guest test boots: a Debian kernel with its modules
# (linux-image-amd64, resolved to the versioned linux-image-<ver>-amd64
# package, the -unsigned variant when the archive has it) and a static
# busybox (busybox-static). Both come from Debian's archive through
# `apt-get download` and are unpacked with `dpkg -x` into a cache:
#
#   ${VDEV_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vdev-guest}/
#     kernel-<package version>/   boot/vmlinuz-<kver>, lib/modules/<kver>/ (+ modules.dep)
#     busybox-<package version>/  bin/busybox
#
# Idempotent and keyed by package version: a version already in the cache
# is not downloaded again. Safe when several runs race: each one unpacks
# into its own temporary directory and renames it into place; the loser
# throws its copy away. Works as root or not (apt-get download needs no
# root; when the package lists are stale it runs `apt-get update` once, as
# root or through passwordless sudo, and retries). Without network or
# apt, the newest complete copy already in the cache is used.
#
# The module tree gets a modules.dep/modules.alias (busybox's depmod; kmod
# is not needed) so that mkinitramfs.sh can resolve module dependencies.
#
# Output (stdout), one KEY=VALUE a line, for guest-test.sh:
#   VDEV_GUEST_KVER=6.1.0-...-amd64
#   VDEV_GUEST_KERNEL=<cache>/kernel-.../boot/vmlinuz-<kver>
#   VDEV_GUEST_MODROOT=<cache>/kernel-...     (holds lib/modules/<kver>)
#   VDEV_GUEST_BUSYBOX=<cache>/busybox-.../bin/busybox
# Progress goes to stderr.
#
# The versions found are remembered in <cache>/current; for
# VDEV_GUEST_RECHECK_MIN minutes (default 720) later runs use them without
# asking apt (which costs a few seconds per run).
#
# Usage: fetch-kernel.sh [--offline]
#   --offline  never download; use what the cache holds (also: VDEV_GUEST_OFFLINE=1)
# Exit: 0 ok; 77 nothing usable could be had (no apt, no network, empty cache).
set -euo pipefail

offline=0
[[ ${VDEV_GUEST_OFFLINE:-0} == 0 ]] || offline=1
case ${1:-} in
--offline) offline=1 ;;
'') ;;
-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; exit 0 ;;
*) echo "fetch-kernel: unknown argument '$1'" >&2; exit 2 ;;
esac

cache=${VDEV_GUEST_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vdev-guest}
mkdir -p "$cache"

say() { echo "fetch-kernel: $*" >&2; }

# The recent answer, if its files are still there.
current=$cache/current
recheck=${VDEV_GUEST_RECHECK_MIN:-720}
if [[ $recheck =~ ^[0-9]+$ && -n $(find "$current" -mmin "-$recheck" 2>/dev/null) ]]; then
	ok=1
	while IFS='=' read -r k v; do
		case $k in
		VDEV_GUEST_KERNEL|VDEV_GUEST_BUSYBOX) [[ -f $v ]] || ok=0 ;;
		VDEV_GUEST_MODROOT) [[ -e $v/.complete ]] || ok=0 ;;
		esac
	done <"$current"
	if [[ $ok -eq 1 ]] && grep -q '^VDEV_GUEST_KVER=' "$current"; then
		say "kernel $(sed -n 's/^VDEV_GUEST_KVER=//p' "$current")" \
		    "(as found less than $recheck minutes ago)"
		cat "$current"
		exit 0
	fi
fi

# as_root CMD...: run as root, through passwordless sudo if need be.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 1
	fi
}

updated=0
apt_update_once() {
	[[ $updated -eq 0 ]] || return 1
	updated=1
	say "package lists look stale: running apt-get update"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
		{ say "apt-get update failed (not root, or no network)"; return 1; }
}

# candidate PKG: the version apt would download, or nothing.
candidate() {
	apt-cache show --no-all-versions "$1" 2>/dev/null |
		awk '/^Version:/ { print $2; exit }'
}

# kernel_package: the versioned kernel package behind linux-image-amd64.
kernel_package() {
	local dep
	dep=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[[ -n $dep ]] || return 1
	if [[ -n $(candidate "$dep-unsigned") ]]; then
		echo "$dep-unsigned"
	else
		echo "$dep"
	fi
}

# fetch_unpack PKG VERSION DEST POSTPROCESS: download PKG=VERSION and
# unpack it into DEST (atomically: temp dir + rename).
fetch_unpack() {
	local pkg=$1 ver=$2 dest=$3 post=$4 tmp apt_opts=()
	tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
	# As root, apt drops to the _apt user to download, which cannot
	# write into our private temp dir: download as ourselves.
	[[ $(id -u) -ne 0 ]] || apt_opts=(-o APT::Sandbox::User=root)
	say "downloading $pkg=$ver"
	if ! (cd "$tmp" && apt-get download -q "${apt_opts[@]}" "$pkg=$ver" >&2); then
		rm -rf "$tmp"
		return 1
	fi
	mkdir "$tmp/root"
	dpkg -x "$tmp"/*.deb "$tmp/root"
	rm -f "$tmp"/*.deb
	"$post" "$tmp/root"
	touch "$tmp/root/.complete"
	# rename(2) refuses to replace a non-empty directory: if another run
	# got there first, keep its copy.
	if ! mv -T "$tmp/root" "$dest" 2>/dev/null; then
		say "$dest appeared meanwhile (another run); using it"
	fi
	rm -rf "$tmp"
	[[ -e $dest/.complete ]]
}

post_busybox() {
	[[ -x $1/bin/busybox ]] || { say "busybox-static has no bin/busybox"; return 1; }
}

# The kernel tree needs modules.dep & co.; Debian generates them at install.
post_kernel() {
	local root=$1 kver
	kver=$(ls "$root/lib/modules")
	"$busybox" depmod -b "$root" "$kver"
	[[ -s $root/lib/modules/$kver/modules.dep ]]
}

# newest_cached PREFIX: the most recent complete cache entry named PREFIX-*.
newest_cached() {
	local d best=
	for d in "$cache/$1"-*; do
		[[ -e $d/.complete ]] || continue
		[[ -z $best || $d -nt $best ]] && best=$d
	done
	[[ -n $best ]] && echo "$best"
}

# get PREFIX PKG_FUNC POST: set $got to the cache dir of the current version
# (not a subshell: apt-get update must run at most once).
get() {
	local prefix=$1 pkgf=$2 post=$3 pkg='' ver='' dest
	if [[ $offline -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		pkg=$($pkgf) || true
		[[ -n $pkg ]] && ver=$(candidate "$pkg")
		if [[ -z $ver ]] && apt_update_once; then
			pkg=$($pkgf) || true
			[[ -n $pkg ]] && ver=$(candidate "$pkg")
		fi
	fi
	if [[ -n $ver ]]; then
		dest=$cache/$prefix-${ver//:/_}
		if [[ -e $dest/.complete ]] || fetch_unpack "$pkg" "$ver" "$dest" "$post"; then
			got=$dest
			resolved+=" $prefix"
			return 0
		fi
		# The lists may name a version the mirror no longer has.
		if apt_update_once; then
			ver=$(candidate "$pkg")
			dest=$cache/$prefix-${ver//:/_}
			if [[ -n $ver ]] && { [[ -e $dest/.complete ]] ||
			     fetch_unpack "$pkg" "$ver" "$dest" "$post"; }; then
				got=$dest
				resolved+=" $prefix"
				return 0
			fi
		fi
	fi
	dest=$(newest_cached "$prefix") || return 1
	say "could not resolve or download $prefix; using cached $dest"
	got=$dest
}

busybox_package() { echo busybox-static; }

got=
resolved=''
get busybox busybox_package post_busybox ||
	{ say "no busybox-static (apt-get download failed, nothing cached)"; exit 77; }
bbdir=$got
busybox=$bbdir/bin/busybox
get kernel kernel_package post_kernel ||
	{ say "no Debian kernel (apt-get download failed, nothing cached)"; exit 77; }
kdir=$got
kver=$(ls "$kdir/lib/modules")
[[ -f $kdir/boot/vmlinuz-$kver ]] || { say "$kdir: no boot/vmlinuz-$kver"; exit 1; }

say "kernel $kver ($(basename "$kdir")), $(basename "$bbdir")"
tmp_current=$current.tmp.$$
{
	echo "VDEV_GUEST_KVER=$kver"
	echo "VDEV_GUEST_KERNEL=$kdir/boot/vmlinuz-$kver"
	echo "VDEV_GUEST_MODROOT=$kdir"
	echo "VDEV_GUEST_BUSYBOX=$busybox"
} >"$tmp_current"
cat "$tmp_current"
# Only an answer from apt is worth remembering.
if [[ $resolved == " busybox kernel" ]]; then
	mv -f "$tmp_current" "$current"
else
	rm -f "$tmp_current"
fi
