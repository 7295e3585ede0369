#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Exported-symbol test (ctest: abi_symbols). Checks that:
#  - the version script lists exactly the functions declared with VDEV_API
#    in the public headers (no more, no fewer, no wildcards in global:);
#  - the shared library exports exactly those functions (no vdev__
#    internals, no stray symbols, none missing), as GLOBAL FUNC symbols;
#  - every exported symbol carries a default version (name@@NODE) whose
#    node is defined in the version script;
#  - the SONAME is the expected one.
#
# Usage: check_symbols.sh LIBRARY INCLUDE_DIR MAP_FILE EXPECTED_SONAME
set -euo pipefail

if [[ $# -ne 4 ]]; then
	echo "usage: $0 LIBRARY INCLUDE_DIR MAP_FILE EXPECTED_SONAME" >&2
	exit 2
fi
lib=$1
incdir=$2
map=$3
want_soname=$4
here=$(cd "$(dirname "$0")" && pwd)

for f in "$lib" "$map"; do
	if [[ ! -r $f ]]; then
		echo "check_symbols: cannot read $f" >&2
		exit 2
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vdev-sym.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# report_diff A B WHAT: list the lines of sorted file A missing from B.
report_diff() {
	local extra
	extra=$(comm -23 "$1" "$2")
	if [[ -n $extra ]]; then
		fail "$3 ($(wc -l <<<"$extra")):"
		sed 's/^/    /' <<<"$extra"
	fi
}

# 1. The API: VDEV_API functions of every public header.
shopt -s nullglob
headers=("$incdir"/vdev/*.h)
if [[ ${#headers[@]} -eq 0 ]]; then
	echo "check_symbols: no headers in $incdir/vdev" >&2
	exit 2
fi
"$here/api_functions.sh" "${headers[@]}" >"$work/api"
if [[ ! -s $work/api ]]; then
	echo "check_symbols: found no VDEV_API function in the headers" >&2
	exit 2
fi

# 2. The version script: strip comments (the C preprocessor does that
# well enough for this syntax), split into tokens, then walk the nodes:
#   NODE { global: name; ... local: *; } [PARENT];
"${CC:-gcc}" -fpreprocessed -E -P -w -x c "$map" |
	sed -e 's/#.*//' -e 's/\([{}:;]\)/ \1 /g' | tr -s ' \t\n' '\n' |
	awk -v nodes="$work/nodes" -v names="$work/map_raw" '
		$0 == "" { next }
		$0 == "{" { depth++; if (depth == 1) print prev > nodes; section = "global"; next }
		$0 == "}" { depth--; section = ""; next }
		$0 == ":" { if (prev == "global" || prev == "local") section = prev; next }
		$0 == ";" { if (depth == 1 && section == "global" && prev != "global") print prev > names; next }
		{ prev = $0 }
	'
touch "$work/nodes" "$work/map_raw"
sort "$work/map_raw" >"$work/map_all"
sort -u "$work/map_raw" >"$work/map"
if [[ ! -s $work/nodes ]]; then
	fail "$map: no version node found"
fi
dups=$(uniq -d "$work/map_all")
[[ -z $dups ]] || fail "$map lists symbols more than once: $(tr '\n' ' ' <<<"$dups")"
wild=$(grep -E '[*?[]' "$work/map" || true)
[[ -z $wild ]] || fail "$map has wildcards in a global: section: $(tr '\n' ' ' <<<"$wild")"

report_diff "$work/api" "$work/map" \
	"declared with VDEV_API in include/vdev but missing from $(basename "$map")"
report_diff "$work/map" "$work/api" \
	"listed in $(basename "$map") but not declared with VDEV_API in include/vdev"

# 3. What the library exports. readelf gives type, binding and version;
# nm -D --defined-only gives the same set a second way. The version nodes
# the library defines (other than its BASE, the SONAME) must be the map's.
readelf -V "$lib" | sed -n '/\.gnu\.version_d/,/^$/p' |
	awk '/Rev:/ && !/Flags: BASE/ { print $NF }' | sort -u >"$work/libnodes"
sort -u -o "$work/nodes" "$work/nodes"
report_diff "$work/libnodes" "$work/nodes" \
	"version nodes defined by $(basename "$lib") but not in $(basename "$map")"
readelf --dyn-syms -W "$lib" |
	awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $5 != "LOCAL" { print $4, $5, $7, $8 }' \
	>"$work/dynsyms"
: >"$work/exported"
: >"$work/badver"
while read -r type bind ndx name; do
	sym=${name%%@*}
	ver=
	[[ $name == *@@* ]] && ver=${name#*@@}
	# The version definitions themselves (VDEV_0.1 etc., ABS objects).
	if [[ $ndx == ABS ]] && grep -qxF -- "$sym" "$work/libnodes"; then
		continue
	fi
	echo "$sym" >>"$work/exported"
	if [[ $type != FUNC || $bind != GLOBAL ]]; then
		fail "exported symbol $sym is a $bind $type, not a GLOBAL FUNC"
	fi
	if [[ -z $ver ]] || ! grep -qxF -- "$ver" "$work/nodes"; then
		echo "$sym (version: ${ver:-none}${name#"$sym"})" >>"$work/badver"
	fi
done <"$work/dynsyms"
sort -o "$work/exported" "$work/exported"
if [[ ! -s $work/dynsyms ]]; then
	fail "$lib exports nothing"
fi

nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
	sort >"$work/nm"
# (nm marks the version definitions "A"; readelf shows them as ABS.)
if ! cmp -s "$work/nm" "$work/exported"; then
	fail "nm -D and readelf --dyn-syms disagree on the exported set:"
	diff "$work/nm" "$work/exported" | sed 's/^/    /' || true
fi

internals=$(grep -E '^vdev__' "$work/exported" || true)
[[ -z $internals ]] || fail "library exports vdev__ internals: $(tr '\n' ' ' <<<"$internals")"
report_diff "$work/exported" "$work/api" \
	"exported by $(basename "$lib") but not declared with VDEV_API in include/vdev"
report_diff "$work/api" "$work/exported" \
	"declared with VDEV_API but not exported by $(basename "$lib") (unimplemented or hidden)"
if [[ -s $work/badver ]]; then
	fail "exported symbols without a default version node from $(basename "$map")" \
	     "($(tr '\n' ' ' <"$work/nodes" | sed 's/ $//')):"
	sort "$work/badver" | sed "s/^/    /"
fi

# 4. SONAME.
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [[ $soname != "$want_soname" ]]; then
	fail "SONAME is '${soname:-none}', expected '$want_soname'"
fi

echo "check_symbols: $(wc -l <"$work/api") API functions, $(wc -l <"$work/map")" \
     "in the map (nodes: $(tr '\n' ' ' <"$work/nodes" | sed 's/ $//')), $(wc -l <"$work/exported")" \
     "exported; SONAME ${soname:-none}; $failures problem(s)"
[[ $failures -eq 0 ]]
