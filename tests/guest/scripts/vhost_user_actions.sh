#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Host side of guest_vhost_user_scsi (tests/guest/vhost_user.cmake): the
# SETUP, the DAEMON command, the HOST_ACTIONS handlers and the CHECKS, all
# run in the test's work directory. The layout below is the one the guest
# script (vhost_user_scsi.sh) expects.
#
#   targets 0..3 x LUNs 0..31: disks lun-T-L.img (sparse), per target:
#     T0 16 MiB 512 B blocks    T1 32 MiB 512 B    T2 16 MiB 4096 B    T3 8 MiB 512 B
#     INQUIRY vendor VDEVT<T>, product DISK-T<T>, serial S<T>-<L>
#   target 4: CD-ROM 4.0 with cd-a.iso (a.txt), 4.1 with cd-b.iso (b.txt);
#     a.txt = `seq 1 40000`, b.txt = `seq 5 50000` (the guest regenerates
#     them to know the checksums)
#   0.2 has an injected failing range: LBA 2048, 64 blocks (daemon option
#     --inject-error, when the daemon has it)
#
# Usage: vhost_user_actions.sh setup | daemon BIN [QUEUES [small]] | check-data | ACTION ARGS...
# Actions (the guest's host_action): plug T.L, unplug T.L, media T.L ISO|eject,
#   list-count N (the daemon lists N LUNs), hole T.L OFFSET LENGTH (that byte
#   range of the backing file is unallocated), allocated T.L OFFSET LENGTH,
#   has-feature NAME (inject-error: the daemon supports --inject-error).
set -euo pipefail

TARGETS=4
LUNS=32
INJECT='0.2:2048:64'

img() { echo "lun-${1%%.*}-${1#*.}.img"; }

# ctl CMD...: one control-socket command; prints the reply, fails on "error".
ctl() {
	python3 - "$*" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect("control.sock")
s.sendall(sys.argv[1].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
reply = buf.decode(errors="replace").strip()
print("control:", sys.argv[1], "->", reply[:200])
sys.exit(0 if reply.startswith("ok") else 1)
EOF
}

# alloc_map FILE OFFSET LENGTH: "hole" if every byte of the range is in a
# hole, "data" if every byte is allocated, "mixed" otherwise (SEEK_DATA/HOLE).
alloc_map() {
	python3 - "$@" <<'EOF'
import os, sys
path, off, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
end = off + length
try:
    d = os.lseek(fd, off, os.SEEK_DATA)
except OSError:
    d = os.fstat(fd).st_size
h = os.lseek(fd, off, os.SEEK_HOLE)
if d >= end:
    print("hole")
elif h >= end and d == off:
    print("data")
else:
    print("mixed (first data at %d, first hole at %d)" % (d, h))
EOF
}

supports_inject() { "$1" --help 2>&1 | grep -q -- '--inject-error'; }

case ${1:-} in
setup)
	rm -f ./*.img ./*.iso vhost.sock control.sock
	sizes=(16M 32M 16M 8M)
	for ((t = 0; t < TARGETS; t++)); do
		for ((l = 0; l < LUNS; l++)); do
			truncate -s "${sizes[$t]}" "lun-$t-$l.img"
		done
	done
	truncate -s 16M lun-5-0.img # hot-plugged later
	mkdir -p iso-a iso-b
	seq 1 40000 >iso-a/a.txt
	seq 5 50000 >iso-b/b.txt
	xorriso -as mkisofs -quiet -V VDEVA -o cd-a.iso iso-a
	xorriso -as mkisofs -quiet -V VDEVB -o cd-b.iso iso-b
	;;
daemon)
	bin=$2
	args=(--socket vhost.sock --control control.sock --num-queues "${3:-2}")
	bss=(512 512 4096 512)
	# "small": target 0 only, 8 LUNs (the reconnect test).
	[[ ${4:-} != small ]] || { TARGETS=1; LUNS=8; }
	for ((t = 0; t < TARGETS; t++)); do
		for ((l = 0; l < LUNS; l++)); do
			args+=(--lun "$t.$l:lun-$t-$l.img:bs=${bss[$t]}:vendor=VDEVT$t:product=DISK-T$t")
			args[-1]+=":serial=S$t-$l"
		done
	done
	[[ ${4:-} == small ]] || args+=(--lun 4.0:cdrom:cd-a.iso --lun 4.1:cdrom:cd-b.iso)
	: >features
	if supports_inject "$bin"; then
		args+=(--inject-error "$INJECT")
		echo inject-error >>features
	fi
	exec "$bin" "${args[@]}"
	;;
plug)
	ctl add-lun "$2" "$(img "$2"):vendor=VDEVHP:product=HOTPLUG:serial=HP-$2"
	;;
unplug)
	ctl remove-lun "$2"
	;;
media)
	ctl change-media "$2" "$3"
	;;
list-count)
	out=$(ctl list)
	echo "$out"
	n=$(sed -n 's/.*-> ok \([0-9]*\).*/\1/p' <<<"$out")
	[[ $n == "$2" ]] || { echo "the daemon lists $n LUNs, want $2"; exit 1; }
	;;
hole|allocated)
	got=$(alloc_map "$(img "$2")" "$3" "$4")
	want=$([[ $1 == hole ]] && echo hole || echo data)
	echo "$(img "$2") [$3, +$4): $got (want $want); $(stat -c '%b blocks' "$(img "$2")")"
	[[ $got == "$want" ]]
	;;
has-feature)
	grep -qx "$2" features || { echo "the daemon has no $2"; exit 1; }
	;;
check-data)
	# Every "VDEV-DATA: T.L OFFSET LENGTH MD5" the guest printed: the
	# backing file holds those bytes now that the daemon has exited, and
	# the daemon logged no warning it should not have.
	n=0 bad=0
	while read -r _ label off len md5; do
		got=$(dd if="$(img "$label")" bs=1M iflag=skip_bytes,count_bytes skip="$off" \
			count="$len" status=none | md5sum | cut -d' ' -f1)
		n=$((n + 1))
		if [[ $got != "$md5" ]]; then
			echo "$(img "$label") [$off, +$len): md5 $got, the guest wrote $md5"
			bad=$((bad + 1))
		fi
	done < <(tr -d '\r' <"$VDEV_GUEST_LOG" | grep -oE 'VDEV-DATA: [0-9]+\.[0-9]+ [0-9]+ [0-9]+ [0-9a-f]{32}')
	echo "check-data: $n range(s) compared, $bad different"
	[[ $n -gt 0 && $bad -eq 0 ]]
	# Nothing else went wrong in the daemon: the only warnings allowed are
	# the medium errors we injected on LUN 0.2 (INJECT).
	warns=$(grep -hE ': (warn|error): ' daemon-0.log |
		grep -vE 'blk: injected error|scsi 0:2: (READ|WRITE)\(10\): backend error' || true)
	if [[ -n $warns ]]; then
		echo "check-data: the daemon warned:"
		echo "$warns" | head -n 20
		exit 1
	fi
	;;
*)
	echo "vhost_user_actions.sh: unknown action '${1:-}'" >&2
	exit 127
	;;
esac
