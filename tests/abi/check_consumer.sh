#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Consumer test (ctest: abi_consumer): install the build into a scratch
# prefix, then build tests/abi/consumer.c against the INSTALLED library
#  1. through pkg-config (C99, -pedantic -Werror), run with LD_LIBRARY_PATH;
#  2. through CMake find_package(vdev): vdev::vdev and vdev::vdev_static.
# Also checks the installed tree: exactly the public headers, the SONAME
# symlink chain, and that pkg-config's -I/-L point into the prefix (so a
# libvdev installed elsewhere on the machine cannot make this pass).
#
# Usage: check_consumer.sh --build DIR --source DIR --work DIR --cc CC
#                          [--cmake CMAKE] [--generator GEN] [--version X.Y.Z]
set -euo pipefail

build='' source='' work='' cc='' cmake=cmake generator='' version=''
while [[ $# -gt 0 ]]; do
	case $1 in
	--build) build=$2 ;;
	--source) source=$2 ;;
	--work) work=$2 ;;
	--cc) cc=$2 ;;
	--cmake) cmake=$2 ;;
	--generator) generator=$2 ;;
	--version) version=$2 ;;
	*) echo "check_consumer: unknown argument $1" >&2; exit 2 ;;
	esac
	shift 2
done
if [[ -z $build || -z $source || -z $work || -z $cc ]]; then
	echo "usage: $0 --build DIR --source DIR --work DIR --cc CC [--cmake CMAKE]" \
	     "[--generator GEN] [--version X.Y.Z]" >&2
	exit 2
fi
source=$(cd "$source" && pwd)

step() { echo "--- $*"; }
die() { echo "FAIL: $*"; exit 1; }

# inside PATH: true if PATH (resolved) lies in the prefix.
inside() {
	local p
	p=$(realpath -m -- "$1")
	[[ $p == "$prefix" || $p == "$prefix"/* ]]
}

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix=$work/prefix

step "install $build into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; die "cmake --install failed"; }
prefix=$(realpath "$prefix")

step "installed headers are exactly include/vdev/*.h"
diff <(cd "$source/include" && find . -type f | sort) \
     <(cd "$prefix/include" && find . -type f | sort) ||
	die "installed headers differ from include/ (< source, > installed)"

# GNUInstallDirs may pick lib, lib64 or lib/<multiarch>: find the .pc file.
mapfile -t pcs < <(find "$prefix" -path '*/pkgconfig/vdev.pc')
[[ ${#pcs[@]} -eq 1 ]] || die "expected one pkgconfig/vdev.pc under $prefix, found ${#pcs[@]}"
pcdir=$(dirname "${pcs[0]}")
libdir=$(dirname "$pcdir")
step "libdir $libdir"

so=$(readelf -d "$libdir/libvdev.so" 2>/dev/null |
     sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p') ||
	die "no $libdir/libvdev.so (the development symlink)"
[[ -n $so && -e $libdir/$so ]] || die "SONAME '${so}' is not installed in $libdir"
[[ -L $libdir/$so ]] || die "$libdir/$so should be a symlink to the versioned file"

step "pkg-config"
# vdev.pc has Requires.private: liburing, which pkg-config resolves even
# for --cflags: search the system's .pc directories too, after the prefix's
# (so the installed vdev.pc is the one found).
sys_pc=$(pkg-config --variable pc_path pkg-config 2>/dev/null || true)
export PKG_CONFIG_LIBDIR=$pcdir${sys_pc:+:$sys_pc}
export PKG_CONFIG_PATH=
[[ $(pkg-config --path vdev) == "$pcdir/vdev.pc" ]] ||
	die "pkg-config finds $(pkg-config --path vdev), not $pcdir/vdev.pc"
static_libs=$(pkg-config --static --libs vdev) || die "pkg-config --static --libs vdev failed"
[[ " $static_libs " == *" -luring "* ]] ||
	die "pkg-config --static --libs vdev lacks -luring: $static_libs"
modversion=$(pkg-config --modversion vdev) || die "pkg-config cannot find vdev in $pcdir"
if [[ -n $version && $modversion != "$version" ]]; then
	die "pkg-config says version $modversion, expected $version"
fi
read -r -a pcflags < <(pkg-config --cflags --libs vdev)
echo "pkg-config --cflags --libs vdev: ${pcflags[*]}"
for f in "${pcflags[@]}"; do
	case $f in
	-I*|-L*)
		inside "${f:2}" || die "vdev.pc points outside the install prefix: $f" \
			"(is the .pc file relocatable? cmake --install --prefix must work)" ;;
	esac
done

step "build consumer.c with pkg-config flags (C99)"
"$cc" -std=c99 -pedantic -Wall -Wextra -Werror -Wstrict-prototypes \
	"$source/tests/abi/consumer.c" "${pcflags[@]}" -o "$work/consumer_pc" ||
	die "consumer build through pkg-config failed"
loaded=$(LD_LIBRARY_PATH=$libdir ldd "$work/consumer_pc" | awk '$1 ~ /^libvdev\.so/ { print $3 }')
if [[ -z $loaded ]] || ! inside "$loaded"; then
	die "consumer_pc loads libvdev from '${loaded}', not $libdir"
fi
out=$(LD_LIBRARY_PATH=$libdir "$work/consumer_pc") || { echo "$out"; die "consumer_pc failed"; }
echo "$out"
grep -q '^OK' <<<"$out" || die "consumer_pc did not print OK"

step "build consumer.c through find_package(vdev)"
gen_args=()
[[ -z $generator ]] || gen_args=(-G "$generator")
"$cmake" -S "$source/tests/abi/consumer_cmake" -B "$work/cmake-build" "${gen_args[@]}" \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
	-DVDEV_EXPECTED_VERSION="$version" >"$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log"; die "configuring the find_package consumer failed"; }
grep 'Found vdev' "$work/cmake.log" || true
"$cmake" --build "$work/cmake-build" >"$work/cmake-build.log" 2>&1 ||
	{ cat "$work/cmake-build.log"; die "building the find_package consumer failed"; }

loaded=$(ldd "$work/cmake-build/consumer_shared" | awk '$1 ~ /^libvdev\.so/ { print $3 }')
if [[ -z $loaded ]] || ! inside "$loaded"; then
	die "consumer_shared loads libvdev from '${loaded}', not $libdir"
fi
out=$("$work/cmake-build/consumer_shared") || { echo "$out"; die "consumer_shared failed"; }
echo "vdev::vdev: $out"
grep -q '^OK' <<<"$out" || die "consumer_shared did not print OK"

if ldd "$work/cmake-build/consumer_static" | grep -q libvdev; then
	die "consumer_static is linked against the shared libvdev"
fi
out=$("$work/cmake-build/consumer_static") || { echo "$out"; die "consumer_static failed"; }
echo "vdev::vdev_static: $out"
grep -q '^OK' <<<"$out" || die "consumer_static did not print OK"

echo "check_consumer: OK (pkg-config, vdev::vdev, vdev::vdev_static; libdir $libdir)"
