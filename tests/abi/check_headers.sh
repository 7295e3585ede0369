#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Public-header test (ctest: abi_headers). Every include/vdev/*.h must:
#  - compile ALONE, included twice (include guard), as C99 and C11 with
#    each C compiler given and as C++11 and C++17 with each C++ compiler,
#    under -pedantic -Wall -Wextra -Werror (C also -Wstrict-prototypes);
#  - give its VDEV_API functions C linkage in C++ (the object file must
#    reference them unmangled);
#  - have an include guard no other header uses;
#  - be reachable from the umbrella header vdev/vdev.h.
#
# Usage: check_headers.sh [--cc CC]... [--cxx CXX]... INCLUDE_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ccs=()
cxxs=()
while [[ $# -gt 1 ]]; do
	case $1 in
	--cc) ccs+=("$2"); shift 2 ;;
	--cxx) cxxs+=("$2"); shift 2 ;;
	*) break ;;
	esac
done
if [[ $# -ne 1 || ( ${#ccs[@]} -eq 0 && ${#cxxs[@]} -eq 0 ) ]]; then
	echo "usage: $0 [--cc CC]... [--cxx CXX]... INCLUDE_DIR" >&2
	exit 2
fi
incdir=$(cd "$1" && pwd)
shopt -s nullglob
headers=("$incdir"/vdev/*.h)
if [[ ${#headers[@]} -eq 0 ]]; then
	echo "check_headers: no headers in $incdir/vdev" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vdev-hdr.XXXXXX")
trap 'rm -rf "$work"' EXIT

c_flags=(-pedantic -Wall -Wextra -Werror -Wstrict-prototypes -Wshadow -Wundef)
# -Wshadow for C++ too: a function named like a struct (legal, as with
# stat()/struct stat) warns there, so the headers must not have one.
cxx_flags=(-pedantic -Wall -Wextra -Werror -Wshadow -Wundef)
checks=0
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# compile WHAT OUTPUT COMPILER ARGS...: run one compile, report on failure.
compile() {
	local what=$1 out=$2
	shift 2
	checks=$((checks + 1))
	if ! "$@" -I"$incdir" -c -o "$out" >"$work/log" 2>&1; then
		fail "$what"
		echo "  command: $*"
		sed 's/^/  | /' "$work/log"
		return 1
	fi
}

for h in "${headers[@]}"; do
	name=$(basename "$h")
	base=${name%.h}

	# The TU: the header twice, then one declaration so the TU is never
	# empty (ISO C forbids that) whatever the header expands to.
	tu_c=$work/$base.c
	printf '#include <vdev/%s>\n#include <vdev/%s>\ntypedef int vdev_hdr_test_%s;\n' \
		"$name" "$name" "$base" >"$tu_c"
	for cc in "${ccs[@]}"; do
		for std in c99 c11; do
			compile "$name as $std with $cc" /dev/null \
				"$cc" -x c -std=$std "${c_flags[@]}" "$tu_c" || true
		done
	done

	# C++: also take the address of every VDEV_API function the header
	# declares, then check the object references them unmangled, i.e. the
	# header wraps its declarations in VDEV_BEGIN_DECLS/VDEV_END_DECLS.
	mapfile -t funcs < <("$here/api_functions.sh" "$h")
	tu_cxx=$work/$base.cpp
	{
		printf '#include <vdev/%s>\n#include <vdev/%s>\n' "$name" "$name"
		printf 'typedef void (*vdev_hdr_test_fn)(void);\n'
		printf 'extern const vdev_hdr_test_fn vdev_hdr_test_refs[];\n'
		printf 'const vdev_hdr_test_fn vdev_hdr_test_refs[] = {\n'
		for f in "${funcs[@]}"; do
			printf '\treinterpret_cast<vdev_hdr_test_fn>(&%s),\n' "$f"
		done
		printf '\t0\n};\n'
	} >"$tu_cxx"
	for cxx in "${cxxs[@]}"; do
		for std in c++11 c++17; do
			obj=$work/$base.$std.o
			compile "$name as $std with $cxx" "$obj" \
				"$cxx" -x c++ -std=$std "${cxx_flags[@]}" "$tu_cxx" || continue
			checks=$((checks + 1))
			undef=$(nm -u "$obj" | awk '{print $NF}')
			bad=()
			for f in "${funcs[@]}"; do
				if ! grep -qx -- "$f" <<<"$undef"; then
					bad+=("$f ($(grep -- "$f" <<<"$undef" | head -n 1))")
				fi
			done
			if [[ ${#bad[@]} -gt 0 ]]; then
				fail "$name as $std with $cxx: ${#bad[@]} function(s) without C" \
				     "linkage (missing VDEV_BEGIN_DECLS?):"
				printf '    %s\n' "${bad[@]}"
			fi
		done
	done
done

# Include guards: the first #ifndef of each header, all different.
checks=$((checks + 1))
dups=$(for h in "${headers[@]}"; do
	awk '$1 == "#ifndef" { print $2; exit }' "$h"
done | sort | uniq -d)
if [[ -n $dups ]]; then
	fail "include guard used by more than one header: $dups"
fi
for h in "${headers[@]}"; do
	checks=$((checks + 1))
	if ! grep -q '^#ifndef VDEV_[A-Z0-9_]*_H$' "$h"; then
		fail "$(basename "$h"): does not open with an #ifndef VDEV_..._H include guard"
	fi
done

# The umbrella header includes every other public header.
umbrella=$incdir/vdev/vdev.h
if [[ -f $umbrella ]]; then
	for h in "${headers[@]}"; do
		name=$(basename "$h")
		[[ $name == vdev.h ]] && continue
		checks=$((checks + 1))
		if ! grep -q "^#include <vdev/$name>" "$umbrella"; then
			fail "vdev/vdev.h does not include <vdev/$name>"
		fi
	done
else
	fail "no umbrella header vdev/vdev.h"
fi

echo "check_headers: ${#headers[@]} headers, $checks checks, $failures failed" \
     "(C: ${ccs[*]:-none}; C++: ${cxxs[*]:-none})"
[[ $failures -eq 0 ]]
