#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# House rules that a compiler does not check (DESIGN.md "ABI conventions"):
#  1. no abort()/assert()/exit() in the library: guest input must never kill the VMM;
#  2. no global mutable state: the static library defines no data/bss/common symbols;
#  3. every non-static library symbol is vdev_* (public) or vdev__* (internal);
#  4. every VDEV_API declaration in a public header has a doc comment right above it.
# Usage: check_source_rules.sh <source-dir> <libvdev.a>
set -uo pipefail
src=$1
lib=$2
fail=0

bad=$(grep -rnE '(^|[^_a-z])(abort|assert|exit|_exit)[[:space:]]*\(' "$src/lib" --include='*.c' --include='*.h' |
	grep -vE '^\S+:[0-9]+:\s*(\*|//|/\*)' || true)
if [ -n "$bad" ]; then
	echo "FAIL: abort/assert/exit in the library:"; echo "$bad"; fail=1
fi

# Writable sections only: .data.rel.ro (const pointer tables under -fPIC) is fine.
data=$(objdump -t "$lib" 2>/dev/null |
	awk '$0 ~ /^[0-9a-f]+ .* O / { for (i = 2; i <= NF; i++) if ($i ~ /^(\.data|\.bss|\*COM\*)/) {
		if ($i !~ /^\.data\.rel\.ro/) print; break } }' |
	grep -vE '__(odr_)?asan|__ubsan|__sancov' || true)
if [ -n "$data" ]; then
	echo "FAIL: mutable static/global data in the library (use the context instead):"
	echo "$data"; fail=1
fi

names=$(nm --defined-only --extern-only "$lib" 2>/dev/null | awk 'NF==3 {print $3}' |
	grep -vE '^vdev_|^__(odr_)?asan|^__ubsan|^__sancov' || true)
if [ -n "$names" ]; then
	echo "FAIL: exported-from-object symbols without the vdev_/vdev__ prefix:"; echo "$names"; fail=1
fi

for h in "$src"/include/vdev/*.h; do
	# The line before each "VDEV_API" declaration must close a comment.
	undocumented=$(awk -v f="$h" '
		/^VDEV_API/ { if (prev !~ /\*\/[[:space:]]*$/) print f ":" NR ": " $0 }
		{ if ($0 !~ /^[[:space:]]*$/) prev = $0 }' "$h")
	if [ -n "$undocumented" ]; then
		echo "FAIL: public function without a doc comment:"; echo "$undocumented"; fail=1
	fi
done

if [ $fail -eq 0 ]; then
	echo "source rules: OK"
fi
exit $fail
