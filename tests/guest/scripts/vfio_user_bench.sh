#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of bench/run_guest_vfio_bench.sh: the same small workload on
# the first SCSI disk whatever transport serves it (our vfio-user
# function, our vhost-user back end, QEMU's own virtio-scsi). Reports
# "VDEV-BENCH: <case> <ops> <centiseconds>" (guest uptime clock).
set -u
now() { read -r up _ </proc/uptime; echo "${up%.*}${up#*.}"; }
s=""
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	for b in /sys/bus/scsi/devices/*:0:0:0/block/*; do
		[ -e "$b" ] && s=${b##*/}
	done
	[ -n "$s" ] && break
	sleep 0.5
done
[ -n "$s" ] || { echo "VDEV-TEST: FAIL bench: no disk at 0.0"; exit 1; }
# case NAME OPS DD-ARGS...: one timed dd.
run() {
	name=$1 ops=$2
	shift 2
	t0=$(now)
	if ! dd "$@" 2>/tmp/err; then
		echo "VDEV-TEST: FAIL bench-$name: $(tail -n 1 /tmp/err)"
		return
	fi
	echo "VDEV-BENCH: $name $ops $(($(now) - t0))"
}
run write-4k 8192 if=/dev/zero of="/dev/$s" bs=4k count=8192 oflag=direct
run read-4k 8192 if="/dev/$s" of=/dev/null bs=4k count=8192 iflag=direct
run write-1m 64 if=/dev/zero of="/dev/$s" bs=1M count=64 oflag=direct
run read-1m 64 if="/dev/$s" of=/dev/null bs=1M count=64 iflag=direct
echo "VDEV-TEST: PASS bench ($s)"
