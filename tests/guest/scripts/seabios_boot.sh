#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Firmware test of our daemons: SeaBIOS — its own virtio-scsi driver,
# split rings, INT 13h — boots from our virtio-scsi and runs
# tests/guest/seabios/diskcheck.S from LUN 0: a 32 KiB read whose hash the
# host compares with the image, a 4 KiB write read back in the guest and
# checked in the image afterwards (nothing else in the image may change).
# Seconds under TCG, so the clang and ASan stages run it too (label
# firmware).
#
#   seabios_boot.sh TRANSPORT DAEMON BOOT_BIN WORKDIR
#     vfio-user           vdev-vfio-user: our whole PCI function through QEMU
#                         11's vfio-user-pci, guest RAM in a shared memfd
#     vfio-user-messages  the same with plain guest RAM (no fd): every byte
#                         the device moves goes in DMA_READ/DMA_WRITE
#                         messages, and must
#     vhost-user          vdev-vhost-user-scsi behind QEMU's own
#                         vhost-user-scsi-pci (Debian 12's QEMU 7.2)
# Also checked: the daemon logged no warning or error, and (vfio-user) said
# it used DMA messages exactly when the transport says so.
# Exit 0 pass, 1 fail, 77 no QEMU with vfio-user-pci.
set -uo pipefail
transport=$1 daemon=$2 boot=$3 wd=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../../..
name="seabios $transport"
memfd=(-object memory-backend-memfd,id=mem,size=128M,share=on -machine memory-backend=mem)
luns=(0.0:disk.img 3.0:other.img 5.1:cdrom:cd.iso)
case $transport in
vfio-user | vfio-user-messages)
	# shellcheck source=vfio_user_qemu.sh
	. "$here/vfio_user_qemu.sh"
	vfu_find_qemu "$name" "$root"
	qemu=$VDEV_QEMU
	spec=virtio-scsi-pci
	for l in "${luns[@]}"; do spec+=",lun${l/:/=}"; done
	dargs=(--socket dev.sock --device "$spec")
	qargs=(-device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"dev.sock"}}')
	[[ $transport == vfio-user-messages ]] || qargs+=("${memfd[@]}")
	;;
vhost-user)
	qemu=$(command -v qemu-system-x86_64) || { echo "$name: no qemu-system-x86_64"; exit 1; }
	echo "$name: QEMU $("$qemu" --version | head -n 1) ($qemu)"
	dargs=(--socket dev.sock --num-queues 2)
	for l in "${luns[@]}"; do dargs+=(--lun "$l"); done
	qargs=(-chardev socket,id=vus,path=dev.sock
	       -device vhost-user-scsi-pci,chardev=vus,num_queues=2 "${memfd[@]}")
	;;
*) echo "$name: TRANSPORT is vfio-user, vfio-user-messages or vhost-user"; exit 1 ;;
esac

rm -rf "$wd" && mkdir -p "$wd" && cd "$wd" || exit 1
dpid=''
cleanup() {
	[[ -z $dpid ]] || { kill -TERM "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; }
}
trap cleanup EXIT
fail() {
	echo "FAIL $name: $*"
	for f in out.log serial.log qemu.stderr daemon.log; do
		[[ -s $f ]] && { echo "---- $f (last 20 lines)"; tr -d '\r' <"$f" | tail -n 20; }
	done
	exit 1
}

# LUN 0 (boot): the boot sector, 64 random sectors, zeroes to 4 MiB; a
# second disk and a CD-ROM on other targets for SeaBIOS's scan to find.
cp "$boot" disk.img && head -c 32768 /dev/urandom >>disk.img && truncate -s 4M disk.img
cp disk.img disk.orig
truncate -s 1M other.img
truncate -s 2M cd.iso
read -r want < <(python3 - <<'EOF'
d = open("disk.img", "rb").read()[512:512 + 32768]
h = 0x811c9dc5
for b in d:
    h = ((h ^ b) * 16777619) & 0xffffffff
print("%08x" % h)
EOF
)

"$daemon" "${dargs[@]}" >daemon.log 2>&1 &
dpid=$!
for ((i = 0; i < 100; i++)); do
	[[ -S dev.sock ]] && break
	kill -0 "$dpid" 2>/dev/null || fail "the daemon exited before its socket appeared"
	sleep 0.1
done
[[ -S dev.sock ]] || fail "no socket after 10 s"

start=$(date +%s.%N)
timeout 120 "$qemu" -accel tcg -m 128 -nographic -no-reboot -net none \
	-device isa-debug-exit,iobase=0x501,iosize=1 \
	-chardev file,id=vdevout,path=out.log -device isa-debugcon,iobase=0xe9,chardev=vdevout \
	"${qargs[@]}" >serial.log 2>qemu.stderr </dev/null
rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
kill -TERM "$dpid" 2>/dev/null
wait "$dpid"
drc=$?
dpid=''
echo "$name: QEMU exit $rc after $secs s, daemon exit $drc"
tr -d '\r' <out.log | grep -a 'VDEV-SEABIOS' | sed 's/^/    /'

# isa-debug-exit: (0x10 << 1) | 1 = 33 is the boot code's success.
[[ $rc -eq 33 ]] || fail "QEMU exit $rc, expected 33 (124: the 120 s timeout)"
[[ $drc -eq 0 ]] || fail "the daemon exit status $drc"
got=$(tr -d '\r' <out.log | grep -aoE 'VDEV-SEABIOS: hash [0-9a-f]{8}' | cut -d' ' -f3)
[[ $got == "$want" ]] || fail "the guest read hash ${got:-none}, the image's is $want"
tr -d '\r' <out.log | grep -aq 'VDEV-SEABIOS: read-back ok' || fail "no read-back line"
python3 - <<'EOF' || fail "the image does not hold what the guest wrote, or more changed"
import sys
new = open("disk.img", "rb").read()
old = open("disk.orig", "rb").read()
lo, hi = 100 * 512, 108 * 512
want = bytes((7 * i + 13 * (i >> 9) + 0x5a) & 255 for i in range(hi - lo))
ok = len(new) == len(old) and new[lo:hi] == want and new[:lo] == old[:lo] and new[hi:] == old[hi:]
print("check: sectors 100-107 hold the pattern, the rest is unchanged:", ok)
sys.exit(0 if ok else 1)
EOF
dma=$(grep -oE 'DMA through messages: [0-9]+ reads.*' daemon.log)
echo "check: ${dma:-no DMA messages}"
case $transport in
vfio-user-messages) [[ -n $dma ]] || fail "plain guest RAM, but the daemon sent no DMA messages" ;;
*) [[ -z $dma ]] || fail "shared guest RAM went through DMA messages" ;;
esac
warns=$(grep -E ': (warn|error): ' daemon.log)
[[ -z $warns ]] || fail "the daemon warned: $warns"
echo "PASS $name"
