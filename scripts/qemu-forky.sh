#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A QEMU with a vfio-user client (`-device vfio-user-pci`) for the guest
# tests, from Debian's testing suite "forky", in a private folder. Debian
# 12's own QEMU (7.2) has no vfio-user client; forky's (11.x) has, and it
# runs on Debian 12 through forky's own loader and libraries without
# touching the system:
#
#   - a private apt configuration (APT_CONFIG: its own sources file with
#     `<mirror> forky main`, lists, cache, empty status; the system's apt.conf.d
#     is not read, only its Acquire:: settings are carried over) fetches the
#     forky package index; `apt-get download` (no root needed) gets
#     qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu
#     and the library packages they depend on (the Depends closure through
#     Section: libs packages only); `dpkg -x` unpacks into ROOT those that
#     ship a shared object the binary or its modules load (forky's loader,
#     `ld.so --list`, tells which) and the five above;
#   - ROOT/usr/lib/x86_64-linux-gnu/qemu-bundle -> ../../.. : QEMU finds its
#     modules, data and firmware relative to /proc/self/exe, which is forky's
#     loader here; without the link it would load the host's 7.2 modules;
#   - ROOT/qemu-system-x86_64 is a wrapper running
#     `ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --inhibit-cache
#      --library-path ROOT/usr/lib/x86_64-linux-gnu ROOT/usr/bin/qemu-system-x86_64 ...`.
#
# The mirror is the one the system's apt sources use for Debian (the first
# deb.debian.org-like entry that is not -security), with suite forky.
#
# Cache: ${VDEV_QEMU_FORKY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vdev-qemu-forky}/
#   qemu-<package version>/   ROOT (VERSION, PACKAGES, qemu-system-x86_64, usr/...)
#   current -> qemu-<...>     the copy a plain run uses
# Idempotent: once `current` is complete, a run only prints the version and
# the path (no network). Safe when several runs race: each works in its own
# temporary directory and renames the result into place; the loser uses the
# winner's copy. Works as root and as a normal user.
#
# Output: progress and the version on stderr; the wrapper's path alone on
# the last line of stdout, e.g. VDEV_QEMU=$(scripts/qemu-forky.sh).
#
# Usage: scripts/qemu-forky.sh [--update]
#   --update   fetch forky's current QEMU even when a copy is cached
# Environment: VDEV_QEMU_FORKY_CACHE (the cache folder),
#   VDEV_QEMU_FORKY_MIRROR (a Debian mirror URL, instead of the system's),
#   VDEV_QEMU_FORKY_SUITE (default forky).
# Exit: 0 ok; 77 the archive is unreachable or apt/dpkg missing (callers skip,
# loudly); 1 any other failure (the message names the step); 2 usage.
set -euo pipefail

prog=qemu-forky
say() { echo "$prog: $*" >&2; }
# fail STEP MSG: a failure that is not about reaching the archive.
fail() { say "FAILED at step '$1': $2"; exit 1; }
# unreachable STEP MSG: the archive (or the tools to reach it) is not there.
unreachable() { say "SKIP: step '$1': $2"; exit 77; }

update=0
case ${1:-} in
--update) update=1 ;;
'') ;;
-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; exit 0 ;;
*) say "unknown argument '$1' (see --help)"; exit 2 ;;
esac

cache=${VDEV_QEMU_FORKY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vdev-qemu-forky}
suite=${VDEV_QEMU_FORKY_SUITE:-forky}
multiarch=x86_64-linux-gnu
wrapper_name=qemu-system-x86_64

# report DIR: the result, for a caller: version on stderr, path on stdout.
report() {
	say "$(cat "$1/VERSION") ($(wc -l <"$1/PACKAGES") packages) in $1"
	echo "$1/$wrapper_name"
}

mkdir -p "$cache" || fail cache "cannot create $cache"
cache=$(cd "$cache" && pwd -P)
if [[ $update -eq 0 && -e $cache/current/.complete ]]; then
	report "$(cd "$cache/current" && pwd -P)"
	exit 0
fi

# ---- step: tools -------------------------------------------------------------
[[ $(uname -m) == x86_64 ]] || unreachable tools "this host is $(uname -m), not x86_64"
for t in apt-get apt-cache apt-config dpkg dpkg-deb; do
	command -v "$t" >/dev/null 2>&1 || unreachable tools "$t is not installed (no apt/dpkg)"
done
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || fail tools "no $keyring (install debian-archive-keyring)"

# ---- step: mirror ------------------------------------------------------------
# The first Debian archive URI in the system's sources (one-line .list files
# and deb822 .sources files), skipping security and disabled entries.
find_mirror() {
	local sl sp f
	eval "$(apt-config shell sl Dir::Etc::sourcelist/f sp Dir::Etc::sourceparts/d)"
	for f in "$sl" "$sp"*.list; do
		[[ -r $f ]] || continue
		awk '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
			if ($(i + 1) !~ /-security$/ && $i ~ /\/debian\/?$/) { print $i; exit }
		}' "$f"
	done
	for f in "$sp"*.sources; do
		[[ -r $f ]] || continue
		# One deb822 stanza per paragraph; fields are case-insensitive.
		awk 'function flush() {
			if (types ~ /(^| )deb( |$)/ && enabled !~ /^no$/ && suites !~ /-security/)
				for (n = split(uris, u, " "); n > 0; n--)
					if (u[n] ~ /\/debian\/?$/) { print u[n]; found = 1 }
			types = uris = suites = enabled = ""
		}
		/^[ \t]*$/ { flush(); if (found) exit; next }
		/^#/ { next }
		{ key = tolower($1); sub(/^[^:]*:[ \t]*/, "") }
		key == "types:" { types = $0 } key == "uris:" { uris = $0 }
		key == "suites:" { suites = $0 } key == "enabled:" { enabled = tolower($0) }
		END { if (!found) flush() }' "$f"
	done
}
mirror=${VDEV_QEMU_FORKY_MIRROR:-}
[[ -n $mirror ]] || mirror=$(find_mirror 2>/dev/null | head -n 1) || true
[[ -n $mirror ]] ||
	fail mirror "no Debian mirror in the system's apt sources (set VDEV_QEMU_FORKY_MIRROR)"
mirror=${mirror%/}
say "mirror $mirror, suite $suite"

# ---- step: private apt ---------------------------------------------------------
tmp=$(mktemp -d "$cache/.tmp.XXXXXX") || fail setup "cannot create a temporary folder in $cache"
trap 'rm -rf "$tmp"' EXIT
apt=$tmp/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/empty" "$tmp/debs" "$tmp/root"
: >"$apt/status"
echo "deb [arch=amd64 signed-by=$keyring] $mirror $suite main" >"$apt/sources.list"
# APT_CONFIG is read before apt.conf.d, so it can point Dir::Etc::Parts at an
# empty folder: no system hook (APT::Update::Post-Invoke*) runs for our
# update, no system preference pins forky. The system's Acquire:: settings
# (proxies, Check-Valid-Until for snapshot mirrors, ...) still apply.
{
	echo "Dir::Etc::Parts \"$apt/empty\";"
	echo "Dir::Etc::Main \"/dev/null\";"
	echo "Dir::Etc::SourceList \"$apt/sources.list\";"
	echo "Dir::Etc::SourceParts \"$apt/empty\";"
	echo "Dir::Etc::Preferences \"/dev/null\";"
	echo "Dir::Etc::PreferencesParts \"$apt/empty\";"
	echo "Dir::State \"$apt\";"
	echo "Dir::State::Lists \"$apt/lists\";"
	echo "Dir::State::status \"$apt/status\";"
	echo "Dir::Cache \"$apt/cache\";"
	echo "Dir::Log \"$apt\";"
	# The lock files are ours alone (a private folder per run).
	echo "Debug::NoLocking \"true\";"
	# As root apt downloads as _apt, which cannot write into a private
	# folder under root's home: download as ourselves.
	[[ $(id -u) -ne 0 ]] || echo "APT::Sandbox::User \"root\";"
	apt-config dump --no-empty | grep -E '^Acquire::' | grep -v -E '^Acquire::IndexTargets' || true
	echo "Acquire::Languages \"none\";"
} >"$apt/apt.conf"
export APT_CONFIG=$apt/apt.conf

# net_trouble LOG: does apt's log say the archive could not be reached?
net_trouble() {
	grep -q -i -E "could not resolve|temporary failure resolving|failed to connect|\
could not connect|connection (refused|timed out|failed)|network is unreachable|\
no route to host|unable to connect|503  service|502  bad gateway|504  gateway" "$1"
}

say "apt-get update (private lists for $suite)"
if ! apt-get update -q >"$tmp/update.log" 2>&1 ||
   ! ls "$apt/lists/"*_Packages* >/dev/null 2>&1 ||
   grep -q -E '^(W|E): Failed to fetch' "$tmp/update.log"; then
	sed 's/^/  /' "$tmp/update.log" >&2
	net_trouble "$tmp/update.log" && unreachable update "$mirror $suite is unreachable"
	fail update "apt-get update for $mirror $suite failed (log above)"
fi

# ---- step: resolve -------------------------------------------------------------
candidate() {
	apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ { print $2; exit }'
}
qver=$(candidate qemu-system-x86)
[[ -n $qver ]] || fail resolve "$suite has no qemu-system-x86"
dest=$cache/qemu-${qver//:/_}

# set_current: point `current` at $dest atomically (rename of a new link).
set_current() {
	if ! ln -sfn "$(basename "$dest")" "$tmp/current" ||
	   ! mv -T "$tmp/current" "$cache/current"; then
		fail install "cannot update $cache/current"
	fi
}
if [[ -e $dest/.complete ]]; then
	say "qemu-system-x86 $qver is cached already"
	set_current
	report "$dest"
	exit 0
fi

base=(qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu)
# deps PKG...: the direct Depends/Pre-Depends of each package, one a line (the
# first of alternatives; the first provider of a virtual package).
deps() {
	apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances "$@" 2>/dev/null | awk '
		/^[^ ]/ { alt = 0; virt = 0; next }
		/^ [ |](Pre)?Depends: / {
			skip = alt; alt = ($1 ~ /^\|/)
			virt = 0
			if (skip) next
			if ($2 ~ /^</) { virt = 1; next }
			print $2; next
		}
		/^    / && virt { print $1; virt = 0 }'
}
# libs PKG...: those of the packages whose Section is libs.
libs() {
	apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
		/^Package:/ { p = $2 } /^Section:/ && $2 ~ /(^|\/)libs$/ { print p }'
}
# The library closure: qemu's own binaries and modules (qemu-system-x86,
# qemu-system-common) name every library they link directly; each library
# package in turn names its own (shlibs). Follow only library packages, so
# that nothing like debconf or systemd is dragged in.
declare -A seen=()
want=()
for p in "${base[@]}"; do seen[$p]=1; done
level=(qemu-system-x86 qemu-system-common)
while [[ ${#level[@]} -gt 0 ]]; do
	next=()
	mapfile -t found < <(deps "${level[@]}" | sort -u)
	[[ ${#found[@]} -gt 0 ]] || break
	for p in $(libs "${found[@]}"); do
		[[ -z ${seen[$p]:-} ]] || continue
		seen[$p]=1
		want+=("$p")
		next+=("$p")
	done
	level=("${next[@]}")
done
[[ ${#want[@]} -gt 0 ]] || fail resolve "no library dependencies found for qemu-system-x86"
pkgs=("${base[@]}" "${want[@]}")
say "qemu-system-x86 $qver: ${#pkgs[@]} packages"

# ---- step: download --------------------------------------------------------------
if ! (cd "$tmp/debs" && apt-get download -q "${pkgs[@]}") >"$tmp/download.log" 2>&1; then
	sed 's/^/  /' "$tmp/download.log" >&2
	net_trouble "$tmp/download.log" && unreachable download "$mirror is unreachable"
	fail download "apt-get download failed (log above)"
fi
ndeb=$(find "$tmp/debs" -name '*.deb' | wc -l)
[[ $ndeb -eq ${#pkgs[@]} ]] || fail download "got $ndeb .deb files for ${#pkgs[@]} packages"
say "downloaded $(du -sk "$tmp/debs" | cut -f1) KiB"

# ---- step: unpack ------------------------------------------------------------------
# Everything into a staging tree first; forky's loader then tells which shared
# objects the binary and its modules load (--list), and ROOT gets only the
# packages that ship one of them (plus the non-library packages). The closure
# above is a superset: it also holds run-time plug-ins and data of those
# libraries (gconv modules, SASL and NSS back ends, ...) that QEMU never loads
# here. libgcc-s1 stays: glibc dlopens libgcc_s for thread cancellation.
full=$tmp/full
root=$tmp/root
for deb in "$tmp/debs"/*.deb; do
	dpkg -x "$deb" "$full" || fail unpack "dpkg -x $(basename "$deb")"
done
flib=$full/usr/lib/$multiarch
[[ -x $full/usr/bin/qemu-system-x86_64 ]] || fail unpack "no usr/bin/qemu-system-x86_64"
[[ -x $flib/ld-linux-x86-64.so.2 ]] || fail unpack "no usr/lib/$multiarch/ld-linux-x86-64.so.2"
# loaded_by OBJ...: the file names of the shared objects they load.
loaded_by() {
	local obj out
	for obj in "$@"; do
		out=$("$flib/ld-linux-x86-64.so.2" --inhibit-cache --library-path "$flib" \
			--list "$obj" 2>&1) || fail unpack "ld.so --list $(basename "$obj"): $out"
		awk '/=>/ { n = split($3, p, "/"); print p[n] }' <<<"$out"
	done
}
declare -A used=()
for f in $(loaded_by "$full/usr/bin/qemu-system-x86_64" "$flib"/qemu/*.so); do
	used[$f]=1
done
dropped=()
for deb in "$tmp/debs"/*.deb; do
	p=$(dpkg-deb -f "$deb" Package)
	keep=1
	if [[ " ${want[*]} " == *" $p "* && $p != libgcc-s1 ]]; then
		keep=0
		for f in $(dpkg -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | grep -E '\.so(\.|$)'); do
			[[ -z ${used[${f##*/}]:-} ]] || { keep=1; break; }
		done
	fi
	if [[ $keep -eq 0 ]]; then
		dropped+=("$p")
		continue
	fi
	echo "$p=$(dpkg-deb -f "$deb" Version)" >>"$tmp/PACKAGES"
	dpkg -x "$deb" "$root" || fail unpack "dpkg -x $(basename "$deb")"
done
sort -o "$tmp/PACKAGES" "$tmp/PACKAGES"
[[ ${#dropped[@]} -eq 0 ]] || say "not needed at run time, left out: ${dropped[*]}"
rm -rf "$tmp/debs" "$full"
lib=$root/usr/lib/$multiarch
loader=$lib/ld-linux-x86-64.so.2
# An absolute symlink would leave the tree for the host's file: make such
# links relative when their target is in the tree.
while IFS= read -r -d '' l; do
	t=$(readlink "$l")
	[[ -e $root$t ]] || continue
	ln -sfn "$(realpath -s --relative-to="$(dirname "$l")" "$root$t")" "$l"
done < <(find "$root" -type l -lname '/*' -print0)
# QEMU looks for qemu-bundle beside its executable (/proc/self/exe: the loader).
ln -sfn ../../.. "$lib/qemu-bundle"

cat >"$root/$wrapper_name" <<EOF
#!/bin/sh
# QEMU $qver from Debian $suite, run by its own loader and libraries.
# Generated by libvdev's scripts/qemu-forky.sh; the folder may be moved, and
# this file may be reached through a symlink.
here=\$(dirname "\$(readlink -f "\$0")")
lib=\$here/usr/lib/$multiarch
exec "\$lib/ld-linux-x86-64.so.2" --inhibit-cache --library-path "\$lib" \\
	"\$here/usr/bin/qemu-system-x86_64" "\$@"
EOF
chmod +x "$root/$wrapper_name"

# ---- step: verify ------------------------------------------------------------------
# Every library of the binary and of its modules must come from the tree,
# not from the host (ld.so falls back to /lib/$multiarch).
check_libs() {
	local obj=$1 out
	out=$("$loader" --inhibit-cache --library-path "$lib" --list "$obj" 2>&1) ||
		fail verify "$(basename "$obj"): $out"
	out=$(awk '/=>/ && $3 !~ "^'"$root"'/" { print $1 " => " $3 }' <<<"$out")
	[[ -z $out ]] || fail verify "$(basename "$obj") uses libraries from outside the tree: $out"
}
check_libs "$root/usr/bin/qemu-system-x86_64"
for m in "$lib"/qemu/*.so; do
	[[ -e $m ]] && check_libs "$m"
done
ver=$("$root/$wrapper_name" --version 2>&1 | head -n 1) ||
	fail verify "$wrapper_name --version: $ver"
[[ $ver == "QEMU emulator version "* ]] || fail verify "$wrapper_name --version said: $ver"
"$root/$wrapper_name" -nodefaults -device help 2>&1 | grep -q '"vfio-user-pci"' ||
	fail verify "$ver has no vfio-user-pci device"
echo "$ver" >"$tmp/VERSION"
mv "$tmp/VERSION" "$tmp/PACKAGES" "$root/"
touch "$root/.complete"

# ---- step: install -----------------------------------------------------------------
# rename(2) refuses to replace a non-empty folder: if another run got there
# first, keep its copy.
mv -T "$root" "$dest" 2>/dev/null || say "$dest appeared meanwhile (another run); using it"
[[ -e $dest/.complete ]] || fail install "$dest is incomplete"
set_current
report "$dest"
