#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Block-backend benchmark (bench/bench_blk.c), printed as markdown:
#
#  1. file driver, 4 KiB random reads, O_DIRECT, on a 1 GiB file (filled
#     with random data, not sparse), queue depth 1 and 32, through vdev_blk
#     on io_uring against fio --ioengine=io_uring on the same file in the
#     same run. fio and vdev_blk take turns in short slices (fio, vdev, fio,
#     vdev, ...: BLK_BENCH_ROUNDS each) so the load of a shared machine hits
#     both alike; IOPS are averaged over the slices. Then the thread-pool
#     engine, and io_uring with plug/unplug batching.
#  2. null driver: 4 KiB READ (zero-filled) and WRITE (dropped) through
#     submit + poll, 32 per poll: ns/request (wall clock) and instructions
#     per request (callgrind, inclusive cost of bench_blk's null_loop()).
#
# Usage: bench/run_blk_bench.sh [build-dir]     (default: build/bench-blk)
# Environment: BLK_BENCH_FILE (default /var/tmp/vdev-blk-bench.img; created if
#              missing or not 1 GiB, and kept for the next run),
#              BLK_BENCH_SECONDS (per engine and queue depth, default 10),
#              BLK_BENCH_ROUNDS (slices those seconds are cut into, default 5),
#              BLK_BENCH_NULL_REQS (wall clock, default 4000000),
#              BLK_BENCH_CG_REQS (callgrind, default 64000).
# The whole run takes about 75 s with the defaults.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build/bench-blk}
file=${BLK_BENCH_FILE:-/var/tmp/vdev-blk-bench.img}
secs=${BLK_BENCH_SECONDS:-10}
rounds=${BLK_BENCH_ROUNDS:-5}
null_reqs=${BLK_BENCH_NULL_REQS:-4000000}
cg_reqs=${BLK_BENCH_CG_REQS:-64000}
size=$((1 << 30))

for tool in cmake ninja gcc fio valgrind callgrind_annotate dd; do
	command -v "$tool" >/dev/null || { echo "run_blk_bench: $tool is missing" >&2; exit 1; }
done
slice=$((secs / rounds))
half=$(((secs + 1) / 2))
[[ $slice -ge 1 ]] || { echo "run_blk_bench: BLK_BENCH_SECONDS < BLK_BENCH_ROUNDS" >&2; exit 2; }

cmake -S "$src" -B "$build" -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE= \
	-DCMAKE_C_FLAGS=-O2 -DVDEV_BENCH=ON -DVDEV_TESTS=OFF -DVDEV_EXAMPLES=OFF >/dev/null
ninja -C "$build" -j2 bench_blk >/dev/null
bin=$build/bench/bench_blk

if [[ ! -f $file || $(stat -c %s "$file") -ne $size ]]; then
	echo "run_blk_bench: writing 1 GiB of random data to $file" >&2
	dd if=/dev/urandom of="$file" bs=1M count=1024 oflag=direct conv=fsync status=none
fi

fio_iops() { # QD SECONDS
	fio --name=blk --ioengine=io_uring --direct=1 --rw=randread --bs=4k --iodepth="$1" \
		--size=1G --filename="$file" --runtime="$2" --time_based --minimal |
		awk -F';' '{ printf "%.0f\n", $8 }'
}
vdev_iops() { # ENGINE QD SECONDS [plug]
	"$bin" file "$file" "$@" | awk '$1 == "iops" { print $2 }'
}
declare -A fio vdev
for qd in 1 32; do
	fs=0 vs=0
	for ((r = 0; r < rounds; r++)); do
		fs=$((fs + $(fio_iops "$qd" "$slice")))
		vs=$((vs + $(vdev_iops io_uring "$qd" "$slice")))
	done
	fio[$qd]=$((fs / rounds))
	vdev[$qd]=$((vs / rounds))
done
thr1=$(vdev_iops threads 1 "$half")
thr32=$(vdev_iops threads 32 "$half")
plug32=$(vdev_iops io_uring 32 "$half" plug)

echo "| 4 KiB random read, O_DIRECT, 1 GiB file | QD1 IOPS | QD32 IOPS |"
echo "|---|---:|---:|"
echo "| fio --ioengine=io_uring | ${fio[1]} | ${fio[32]} |"
echo "| vdev_blk, io_uring engine | ${vdev[1]} | ${vdev[32]} |"
awk -v a="${vdev[1]}" -v b="${fio[1]}" -v c="${vdev[32]}" -v d="${fio[32]}" 'BEGIN {
	printf "| vdev_blk / fio | %.1f %% | %.1f %% |\n", 100 * a / b, 100 * c / d }'
echo "| vdev_blk, thread-pool engine (4 workers) | $thr1 | $thr32 |"
echo "| vdev_blk, io_uring, plug/unplug per poll | | $plug32 |"
echo

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Inclusive Ir of one function from a callgrind output file.
incl() {
	callgrind_annotate --inclusive=yes --threshold=100 "$1" |
		awk -v fn="$2" '!done && $0 ~ (":" fn "[. ]") { gsub(",", "", $1); print $1; done = 1 }'
}
echo "| null driver, 4 KiB, 32 per poll | ns/req | instr/req |"
echo "|---|---:|---:|"
for op in read write; do
	ns=$("$bin" null "$op" "$null_reqs" 32 | awk '$1 == "ns/req" { print $2 }')
	valgrind --tool=callgrind --callgrind-out-file="$tmp/$op.cg" "$bin" null "$op" \
		"$cg_reqs" 32 >/dev/null 2>"$tmp/$op.log" || { cat "$tmp/$op.log" >&2; exit 1; }
	ir=$(incl "$tmp/$op.cg" null_loop)
	awk -v op="$op" -v ns="$ns" -v ir="${ir:-0}" -v r="$cg_reqs" 'BEGIN {
		printf "| %s | %.1f | %.0f |\n", op, ns, ir / r }'
done
echo
echo "gcc $(gcc -dumpfullversion), -O2; $(fio --version); fio and io_uring: ${rounds}" \
	"alternating slices of ${slice} s per queue depth; threads, plug: ${half} s;" \
	"$(nproc) CPUs, $(uname -m), kernel $(uname -r); file on" \
	"$(df --output=fstype "$file" | tail -n 1) ($(df --output=source "$file" | tail -n 1))."
