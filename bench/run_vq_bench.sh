#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Virtqueue engine benchmark (bench/bench_vq.c): builds it with gcc -O2, runs it
# once for wall-clock ns/request, then once per case under callgrind for
# instructions/request (the inclusive cost of bench_vq's device_side(), i.e. the
# engine's pop/pop_batch, push and flush plus the loop around them, divided by the
# request count; the test driver's own cost is reported apart), and prints a
# markdown table.
#
# Usage: bench/run_vq_bench.sh [build-dir]      (default: build/bench-vq)
# Environment: VQ_BENCH_REQS (wall clock, default 2000000 per case),
#              VQ_BENCH_CG_REQS (callgrind, default 32000 per case).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build/bench-vq}
reqs=${VQ_BENCH_REQS:-2000000}
cg_reqs=${VQ_BENCH_CG_REQS:-32000}

for tool in cmake ninja gcc valgrind callgrind_annotate; do
	command -v "$tool" >/dev/null || { echo "run_vq_bench: $tool is missing" >&2; exit 1; }
done

cmake -S "$src" -B "$build" -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE= \
	-DCMAKE_C_FLAGS=-O2 -DVDEV_BENCH=ON -DVDEV_TESTS=OFF -DVDEV_EXAMPLES=OFF >/dev/null
ninja -C "$build" -j2 bench_vq >/dev/null
bin=$build/bench/bench_vq

wall=$("$bin" "$reqs")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Inclusive Ir of one function from a callgrind output file (gcc may name a
# specialised copy fn.constprop.0 or fn.isra.0).
incl() {
	callgrind_annotate --inclusive=yes --threshold=100 "$1" |
		awk -v fn="$2" '!done && $0 ~ (":" fn "[. ]") { gsub(",", "", $1); print $1; done = 1 }'
}

echo "| case | ns/req, loop | ns/req, device | device instr/req | driver instr/req |"
echo "|---|---:|---:|---:|---:|"
while read -r name total _ _ device _; do
	out=$tmp/$name.cg
	valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$cg_reqs" "$name" \
		</dev/null >/dev/null 2>"$tmp/$name.log" || { cat "$tmp/$name.log" >&2; exit 1; }
	dev=$(incl "$out" device_side)
	add=$(incl "$out" driver_add)
	col=$(incl "$out" driver_collect)
	awk -v n="$name" -v t="$total" -v d="$device" -v dev="${dev:-0}" -v add="${add:-0}" \
		-v col="${col:-0}" -v r="$cg_reqs" 'BEGIN {
		printf "| %s | %.1f | %.1f | %.0f | %.0f |\n", n, t, d, dev / r, (add + col) / r }'
done <<<"$wall"
echo
echo "gcc $(gcc -dumpfullversion), -O2; $reqs requests per case (wall clock),"\
	"$cg_reqs under callgrind; $(nproc) CPUs, $(uname -m)."
