#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Print, one per line and sorted, the functions declared with VDEV_API in
# the given headers: the set the shared library must export.
#
# Usage: api_functions.sh [-c CC] HEADER...
#
# Comments are stripped with the C preprocessor (-fpreprocessed leaves
# macros unexpanded), so a doc comment that mentions VDEV_API does not
# count, and preprocessor lines are dropped. A declaration this simple
# parser cannot name (e.g. a function returning a function pointer) is an
# error rather than a silent miss.
set -euo pipefail

cc=${CC:-gcc}
if [[ ${1:-} == -c ]]; then
	cc=$2
	shift 2
fi
if [[ $# -eq 0 ]]; then
	echo "usage: $0 [-c CC] HEADER..." >&2
	exit 2
fi

names=()
for h in "$@"; do
	if [[ ! -r $h ]]; then
		echo "api_functions: cannot read $h" >&2
		exit 2
	fi
	text=$("$cc" -fpreprocessed -dD -E -P -w -x c "$h" | sed '/^[[:space:]]*#/d' | tr '\n' ' ')
	# The identifier right before the first '(' after each VDEV_API.
	while read -r name; do
		[[ -n $name ]] || continue
		if [[ ! $name =~ ^vdev_[a-z0-9_]+$ ]]; then
			echo "api_functions: $h: cannot parse a VDEV_API declaration (got '$name')" >&2
			exit 1
		fi
		names+=("$name")
	done < <(grep -oE '\bVDEV_API\b[^;{}()]*\(' <<<"$text" |
		 sed -E 's/[[:space:]]*\($//; s/.*[^A-Za-z0-9_]//')
done
if [[ ${#names[@]} -gt 0 ]]; then
	printf '%s\n' "${names[@]}" | sort -u
fi
