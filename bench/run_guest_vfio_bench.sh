#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The same small guest workload (tests/guest/scripts/vfio_user_bench.sh:
# 8192 x 4 KiB and 64 x 1 MiB direct writes and reads on one 64 MiB disk)
# through three virtio-scsi transports, in one run, all under QEMU 11
# (scripts/qemu-forky.sh; TCG, 2 vCPUs):
#   vfio-user   our whole PCI function: vdev-vfio-user + QEMU's vfio-user-pci
#               (every BAR access, queue notify included, is a socket message)
#   vfio-user without fd   the same with plain guest RAM (no shared memfd):
#               every byte the device reads or writes is a DMA_READ/DMA_WRITE
#               message too
#   vhost-user  our virtqueues behind QEMU's virtio-pci: vdev-vhost-user-scsi
#               + vhost-user-scsi-pci (notifies are eventfds)
#   qemu        QEMU's built-in virtio-scsi-pci + scsi-hd (raw file, aio=threads)
# Prints a markdown table: time per case, and vfio-user's (both) and
# vhost-user's time relative to QEMU's built-in device.
# VDEV_BENCH_VHOST_QEMU=PATH runs the vhost-user case and a second built-in
# case ("qemu-vhost", the vhost-user ratio's base) under that QEMU instead
# (e.g. /usr/bin/qemu-system-x86_64, Debian's 7.2, when the back end does
# not get along with QEMU 11).
#   bench/run_guest_vfio_bench.sh [BUILD_DIR]   (default: build/gcc)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build/gcc}" && pwd)
g=$root/tests/guest
vfu=$build/examples/vfio-user/vdev-vfio-user
vhu=$build/examples/vhost-user-scsi/vdev-vhost-user-scsi
[[ -x $vfu && -x $vhu ]] || { echo "build $build first (no $vfu or $vhu)" >&2; exit 2; }
export VDEV_QEMU=${VDEV_QEMU:-$(bash "$root/scripts/qemu-forky.sh" | tail -n 1)}
work=$(mktemp -d "${TMPDIR:-/tmp}/vdev-guest-bench.XXXXXX")
mem=(-object memory-backend-memfd,id=mem,size=512M,share=on -machine memory-backend=mem)

# one NAME DAEMON WAIT QEMU_ARGS...: one boot; its VDEV-BENCH lines into NAME.txt.
one() {
	local name=$1 daemon=$2 wait=$3
	shift 3
	local args=(--name "bench-$name" --workdir "$work/$name"
		    --script "$g/scripts/vfio_user_bench.sh"
		    --module virtio_pci --module virtio_scsi --module sd_mod
		    --setup "rm -f disk.img *.sock && truncate -s 64M disk.img" --timeout 300)
	[[ -z $daemon ]] || args+=(--daemon "$daemon" --wait-for "$wait")
	VDEV_QEMU=${qemu_override:-$VDEV_QEMU} \
		bash "$g/guest-test.sh" "${args[@]}" -- "$@" >"$work/$name.log" 2>&1 ||
		{ tail -n 8 "$work/$name.log"; echo "bench: $name failed ($work/$name)" >&2
		  : >"$work/$name.txt"; return 1; }
	tr -d '\r' <"$work/$name/serial.log" | grep -oE 'VDEV-BENCH: .*' | cut -d' ' -f2- \
		>"$work/$name.txt"
}
set -e
one vfio-user "$vfu --socket vfu.sock --device virtio-scsi-pci,num-queues=2,lun0=disk.img" \
	vfu.sock "${mem[@]}" \
	-device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"vfu.sock"}}'
one vfio-user-nofd "$vfu --socket vfu.sock --device virtio-scsi-pci,num-queues=2,lun0=disk.img" \
	vfu.sock -device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"vfu.sock"}}' ||
	echo "bench: no vfio-user no-fd numbers (its column shows 0)" >&2
qemu_override=${VDEV_BENCH_VHOST_QEMU:-}
one vhost-user "$vhu --socket vhost.sock --num-queues 2 --lun 0:disk.img" vhost.sock \
	"${mem[@]}" -chardev socket,id=vus,path=vhost.sock \
	-device vhost-user-scsi-pci,chardev=vus,num_queues=2 ||
	echo "bench: no vhost-user numbers (its column shows 0)" >&2
builtin=(-drive if=none,id=d0,file=disk.img,format=raw,aio=threads
	 -device virtio-scsi-pci,num_queues=2 -device scsi-hd,drive=d0)
vbase=qemu
if [[ -n $qemu_override ]]; then
	one qemu-vhost "" "" "${mem[@]}" "${builtin[@]}"
	vbase=qemu-vhost
fi
qemu_override=''
one qemu "" "" "${mem[@]}" "${builtin[@]}"

echo "QEMU: $("$VDEV_QEMU" --version | head -n 1)"
[[ $vbase == qemu ]] ||
	echo "vhost-user and its base: $("$VDEV_BENCH_VHOST_QEMU" --version | head -n 1)"
echo "guest $(grep -E '^  kernel:' "$work/qemu.log" | head -n 1 | tr -s ' ')"
echo
echo "| case | ops | vfio-user ms | vfio-user no-fd ms | vhost-user ms |" \
     "QEMU virtio-scsi ms | vfio-user / QEMU | no-fd / QEMU | vhost-user / QEMU |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
while read -r c ops t_q; do
	t_f=$(awk -v c="$c" '$1 == c { print $3 }' "$work/vfio-user.txt")
	t_n=$(awk -v c="$c" '$1 == c { print $3 }' "$work/vfio-user-nofd.txt")
	t_h=$(awk -v c="$c" '$1 == c { print $3 }' "$work/vhost-user.txt")
	t_v=$(awk -v c="$c" '$1 == c { print $3 }' "$work/$vbase.txt")
	awk -v c="$c" -v o="$ops" -v f="$t_f" -v n="$t_n" -v h="$t_h" -v q="$t_q" -v v="$t_v" '
	BEGIN {
		printf "| %s | %d | %d | %d | %d | %d | %.2f | %.2f | %.2f |\n", c, o, f * 10,
			n * 10, h * 10, q * 10, q ? f / q : 0, q ? n / q : 0, v ? h / v : 0 }'
done <"$work/qemu.txt"
echo
echo "(logs: $work)"
