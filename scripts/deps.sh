#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Install what building and testing libvdev needs on Debian 12 (or a
# close relative). Idempotent: when everything is present it only checks,
# and it runs `apt-get update` + `apt-get install` only for what is missing.
# Works as root (CI) or through sudo.
#
# Usage: scripts/deps.sh [--check]   (--check: report what is missing, install nothing)
set -euo pipefail

check_only=0
[[ ${1:-} == --check ]] && check_only=1

# Required for scripts/test.sh and scripts/run.sh.
required=(
	build-essential # gcc, make, libc headers
	g++             # the C++ header test (abi_headers)
	clang           # second compiler, and libFuzzer builds
	cmake
	ninja-build
	pkg-config
	libcmocka-dev   # unit tests
	liburing-dev    # lib/block's io_uring engine
	libuv1-dev      # lib/vhost-user's event loop
	qemu-system-x86 # guest tests: Linux under TCG drives our devices (tests/guest)
	seabios         # the KVM runner's firmware (examples/kvm-runner)
	cpio            # guest tests: initramfs
	xorriso         # bootable ISO images for CD-ROM tests
	sg3-utils       # guest tests: sg_inq & co. copied into the guest
	python3         # guest tests: vhost-user control socket and hole checks (tests/guest)
	binutils        # nm, readelf (abi_symbols)
)
# Nice to have: benchmarks (callgrind) and symbolized sanitizer reports.
optional=(
	valgrind
	llvm            # llvm-symbolizer
	fio             # bench/run_blk_bench.sh compares the block backend with it
)

have() {
	[[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "deps: need root to run: $*" >&2
		echo "deps: re-run as root, or install sudo" >&2
		return 1
	fi
}

apt_updated=0
apt_install() {
	if [[ $apt_updated -eq 0 ]]; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		apt_updated=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "$@"
}

missing_of() {
	local p
	for p in "$@"; do
		have "$p" || echo "$p"
	done
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: this script needs a Debian-like system (dpkg/apt-get)." >&2
	echo "deps: install by hand: gcc, g++, clang + libFuzzer runtime, cmake, ninja," \
	     "pkg-config, cmocka, liburing, binutils" >&2
	exit 1
fi

mapfile -t missing < <(missing_of "${required[@]}")
mapfile -t missing_opt < <(missing_of "${optional[@]}")
if [[ $check_only -eq 1 ]]; then
	echo "deps: missing required: ${missing[*]:-none}; optional: ${missing_opt[*]:-none}"
	[[ ${#missing[@]} -eq 0 ]]
	exit
fi
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "deps: installing ${missing[*]}"
	apt_install "${missing[@]}"
fi
if [[ ${#missing_opt[@]} -gt 0 ]]; then
	echo "deps: installing optional ${missing_opt[*]}"
	apt_install "${missing_opt[@]}" || echo "deps: warning: could not install ${missing_opt[*]}"
fi

# libFuzzer and the sanitizer runtimes for clang live in a package named
# after clang's major version: libclang-rt-N-dev (Debian 12: N = 14; only
# recommended by clang, so not pulled in by --no-install-recommends).
# Check by linking a trivial fuzzer; install the package if that fails.
fuzzer_links() {
	local d rc
	d=$(mktemp -d)
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return d && n > 9; }' \
		>"$d/f.c"
	rc=0
	clang -fsanitize=fuzzer,address,undefined "$d/f.c" -o "$d/f" >/dev/null 2>&1 || rc=1
	rm -rf "$d"
	return $rc
}
clang_major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
if ! fuzzer_links; then
	echo "deps: installing the clang $clang_major runtimes (libFuzzer, sanitizers)"
	apt_install "libclang-rt-$clang_major-dev" || true
	if ! fuzzer_links; then
		echo "deps: clang cannot link -fsanitize=fuzzer,address,undefined" \
		     "(libclang-rt-$clang_major-dev missing?)" >&2
		exit 1
	fi
fi

# Final check: the tools themselves, not just the package names.
for tool in gcc g++ clang cmake ninja pkg-config nm readelf; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "deps: $tool is still missing" >&2
		exit 1
	fi
done
for pc in cmocka liburing libuv; do
	if ! pkg-config --exists "$pc"; then
		echo "deps: $pc (pkg-config $pc) is still missing" >&2
		exit 1
	fi
done
echo "deps: ok (gcc $(gcc -dumpfullversion), clang ${clang_major:-?}, cmake" \
     "$(cmake --version | awk 'NR == 1 {print $3}'))"
