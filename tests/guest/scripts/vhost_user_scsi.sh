#!/bin/sh
# SPDX-License-Identifier: MIT
#
# guest_vhost_user_scsi: Linux's virtio_scsi, sd, sr and sg drivers (and
# sg3_utils) against vdev-vhost-user-scsi through QEMU's vhost-user-scsi-pci.
# The host layout and the host actions are in vhost_user_actions.sh.
# VHU_MODE=reconnect (guest_vhost_user_reconnect) runs only the reconnect
# part: the daemon is killed (SIGKILL) and restarted during a write loop.
. /lib/vdev.sh
. /lib/lib_scsi.sh

MIB=1048576
NT=4
NL=32

# lun_dev T L [block|generic]: the node, or a FAIL line and an empty name.
dev_of() { scsi_dev "$1" "$2" "${3:-block}" || echo "missing-$1.$2"; }

check_inventory() {
	t_check inventory.count scsi_wait_count $((NT * NL + 2)) 120
	bad=''
	t=0
	while [ $t -lt $NT ]; do
		case $t in
		0) bytes=$((16 * MIB)) bs=512 ;;
		1) bytes=$((32 * MIB)) bs=512 ;;
		2) bytes=$((16 * MIB)) bs=4096 ;;
		*) bytes=$((8 * MIB)) bs=512 ;;
		esac
		l=0
		while [ $l -lt $NL ]; do
			# sg3_utils on the first and last LUN of each target only
			# (a process per LUN and tool costs a minute under TCG).
			if [ $l -eq 0 ] || [ $l -eq $((NL - 1)) ]; then
				sg=1
			else
				sg=''
			fi
			out=$(_has_nodes $t $l || echo "LUN $t.$l: no sd/sg nodes"
			      scsi_check_disk_x "$sg" $t $l $bytes $bs
			      scsi_check_inquiry_x "$sg" $t $l VDEVT$t DISK-T$t S$t-$l)
			[ -z "$out" ] || bad="$bad $out;"
			l=$((l + 1))
		done
		t=$((t + 1))
	done
	if [ -z "$bad" ]; then
		t_pass "inventory.disks ($((NT * NL)) LUNs: sizes, block sizes, INQUIRY, VPD 80h)"
	else
		t_fail inventory.disks "$(echo "$bad" | cut -c1-600)"
	fi
	SCSI_NO_SG3=''
	bad=''
	for l in 0 1; do
		sd=$(scsi_sysdir 4 $l) || { bad="$bad 4.$l absent;"; continue; }
		read -r type <"$sd/device/type"
		[ "$type" = 5 ] || bad="$bad 4.$l has type $type;"
		scsi_dev 4 $l block | grep -q '^sr' || bad="$bad 4.$l has no sr node;"
		scsi_dev 4 $l generic >/dev/null || bad="$bad 4.$l has no sg node;"
	done
	if [ -z "$bad" ]; then t_pass inventory.cdroms; else t_fail inventory.cdroms "$bad"; fi
}

# The sg3_utils parts of the checks only when $1 is set (lib_scsi.sh).
scsi_check_disk_x() {
	[ -n "$1" ] && SCSI_NO_SG3='' || SCSI_NO_SG3=1
	shift
	scsi_check_disk "$@"
}

scsi_check_inquiry_x() {
	[ -n "$1" ] && SCSI_NO_SG3='' || SCSI_NO_SG3=1
	shift
	scsi_check_inquiry "$@"
}

check_data() {
	for spec in 0.0:4:0 1.31:4:8 2.5:2:3 3.7:2:1; do
		addr=${spec%%:*}
		rest=${spec#*:}
		t_check "data.$addr" scsi_write_verify "$(dev_of ${addr%.*} ${addr#*.})" \
			${rest%:*} ${rest#*:} "$addr"
	done
	# The host compares the backing files with the VDEV-DATA lines (check-data).
}

check_multiqueue() {
	before=$(scsi_queue_irqs -request | tr '\n' ' ')
	nq=$(echo $before | wc -w)
	if [ "$nq" -lt 2 ]; then
		t_fail multiqueue "only $nq request queue vector(s) in /proc/interrupts"
		return
	fi
	# blk-mq maps each CPU to its own request queue: I/O from both CPUs.
	a=$(dev_of 0 8)
	b=$(dev_of 0 9)
	taskset -c 0 dd if="/dev/$a" of=/dev/null bs=4k count=256 iflag=direct 2>/dev/null &
	taskset -c 1 dd if="/dev/$b" of=/dev/null bs=4k count=256 iflag=direct 2>/dev/null &
	wait
	after=$(scsi_queue_irqs -request | tr '\n' ' ')
	i=1
	bad=''
	for x in $before; do
		y=$(echo $after | cut -d' ' -f$i)
		[ "$y" -gt "$x" ] || bad="$bad queue $((i - 1)) stayed at $x;"
		i=$((i + 1))
	done
	if [ -z "$bad" ]; then
		t_pass "multiqueue ($nq request queues; interrupts $before-> $after)"
	else
		t_fail multiqueue "$bad (before: $before after: $after)"
	fi
}

check_hotplug() {
	if ! host_action plug 5.0; then
		t_fail hotplug.add "the control socket refused add-lun 5.0"
		return
	fi
	t_check hotplug.seen scsi_wait_present 5 0 60
	t_check hotplug.inquiry scsi_check_inquiry 5 0 VDEVHP HOTPLUG HP-5.0
	t_check hotplug.data scsi_write_verify "$(dev_of 5 0)" 1 2 5.0
	host_action list-count $((NT * NL + 3)) || t_fail hotplug.list "the daemon's list"
	if ! host_action unplug 5.0; then
		t_fail hotplug.remove "the control socket refused remove-lun 5.0"
		return
	fi
	t_check hotplug.gone scsi_wait_gone 5 0 60
	host_action list-count $((NT * NL + 2)) || t_fail hotplug.list "the daemon's list"
}

check_cdrom() {
	ma=$(seq 1 40000 | md5sum | cut -d' ' -f1)
	mb=$(seq 5 50000 | md5sum | cut -d' ' -f1)
	sr0=$(dev_of 4 0)
	sr1=$(dev_of 4 1)
	t_check cdrom.mount scsi_cd_check "$sr0" a.txt "$ma"
	t_check cdrom.mount2 scsi_cd_check "$sr1" b.txt "$mb"
	if host_action media 4.0 cd-b.iso; then
		t_check cdrom.media-change scsi_cd_check "$sr0" b.txt "$mb"
	else
		t_fail cdrom.media-change "the control socket refused change-media"
	fi
}

check_discard() {
	sd=$(dev_of 0 3)
	sg=$(dev_of 0 3 generic)
	dd if=/dev/urandom of="/dev/$sd" bs=1M count=4 conv=fsync 2>/dev/null
	if ! host_action allocated 0.3 0 $((4 * MIB)); then
		t_fail discard.setup "the written range is not allocated in the backing file"
		return
	fi
	if out=$(blkdiscard -o 0 -l $MIB "/dev/$sd" 2>&1) && host_action hole 0.3 0 $MIB; then
		t_pass discard.blkdiscard
	else
		t_fail discard.blkdiscard "blkdiscard: $out; or no hole on the host"
	fi
	if out=$(sg_unmap --lba=2048 --num=2048 "/dev/$sg" 2>&1) &&
	   host_action hole 0.3 $MIB $MIB; then
		t_pass discard.sg_unmap
	else
		t_fail discard.sg_unmap "sg_unmap: $out; or no hole on the host"
	fi
	if out=$(sg_write_same --unmap --lba=4096 --num=2048 "/dev/$sg" 2>&1) &&
	   host_action hole 0.3 $((2 * MIB)) $MIB; then
		t_pass discard.sg_write_same
	else
		t_fail discard.sg_write_same "sg_write_same --unmap: $out; or no hole on the host"
	fi
	host_action allocated 0.3 $((3 * MIB)) $MIB ||
		t_fail discard.untouched "the range after the discarded ones lost its data"
	# What the guest reads back from the holes: zeroes (LBPRZ).
	z=$(dd if=/dev/zero bs=1M count=3 2>/dev/null | md5sum | cut -d' ' -f1)
	got=$(scsi_md5 "$sd" 0 3)
	[ "$got" = "$z" ] && t_pass discard.reads-zero ||
		t_fail discard.reads-zero "the unmapped 3 MiB read back with md5 $got"
}

check_errors() {
	sg=$(dev_of 0 4 generic)
	sd=$(dev_of 0 4)
	if out=$(timeout 120 sg_reset -d "/dev/$sg" 2>&1) &&
	   dd if="/dev/$sd" of=/dev/null bs=4k count=16 iflag=direct 2>/dev/null; then
		t_pass errors.lun-reset
	else
		t_fail errors.lun-reset "sg_reset -d /dev/$sg: $out; or the LUN is unusable after it"
	fi
	if ! host_action has-feature inject-error; then
		t_fail errors.injected "the daemon has no --inject-error (brief H8): not tested"
		return
	fi
	sd=$(dev_of 0 2)
	dmesg -c >/dev/null
	timeout 150 dd if="/dev/$sd" of=/dev/null bs=512 skip=2048 count=64 iflag=direct \
		2>/tmp/inj.err
	rc=$?
	if [ $rc -eq 0 ]; then
		t_fail errors.injected "reading the failing range succeeded"
	elif [ $rc -eq 124 ] || [ $rc -eq 143 ]; then
		t_fail errors.injected "reading the failing range hung (killed after 150 s)"
	elif ! dmesg | grep -qi 'medium error'; then
		t_fail errors.injected "dd failed ($(cat /tmp/inj.err)) but no MEDIUM ERROR: $(dmesg | tail -n 5)"
	else
		t_pass "errors.injected (dd: $(tr '\n' ' ' </tmp/inj.err | cut -c1-80))"
	fi
	dd if="/dev/$sd" of=/dev/null bs=512 count=64 iflag=direct 2>/dev/null &&
		t_pass errors.outside-range || t_fail errors.outside-range "reads elsewhere fail too"
}

# Reconnect: 8 MiB of random data written in 128 chunks (O_DIRECT, each
# fsync'ed) while the host kills the daemon and starts it again; the loop
# must still be running when the kill comes (else the check proves nothing).
check_reconnect() {
	addr=${1:-0.6}
	sd=$(dev_of ${addr%.*} ${addr#*.})
	dd if=/dev/urandom of=/tmp/rc.bin bs=1M count=8 2>/dev/null
	want=$(md5sum </tmp/rc.bin | cut -d' ' -f1)
	(
		i=0
		while [ $i -lt 128 ]; do
			dd if=/tmp/rc.bin of="/dev/$sd" bs=64k skip=$i seek=$i count=1 \
				oflag=direct conv=notrunc,fsync 2>/dev/null || exit 1
			i=$((i + 1))
		done
	) &
	loop=$!
	sleep 0.3
	kill -0 $loop 2>/dev/null || t_fail reconnect.timing "the write loop ended before the kill"
	host_action daemon-restart 0 KILL || t_fail reconnect.restart "the host could not restart the daemon"
	timeout_s=180
	while kill -0 $loop 2>/dev/null && [ $timeout_s -gt 0 ]; do
		sleep 1
		timeout_s=$((timeout_s - 1))
	done
	if kill -0 $loop 2>/dev/null; then
		t_fail reconnect.loop "the write loop hung after the restart"
		return
	fi
	if ! wait $loop; then
		t_fail reconnect.loop "a write failed across the restart"
		return
	fi
	t_pass reconnect.loop
	_drop_caches
	got=$(timeout 120 dd if="/dev/$sd" bs=1M count=8 iflag=direct 2>/dev/null | md5sum |
	      cut -d' ' -f1)
	if [ "$got" = "$want" ]; then
		t_pass reconnect.data
		echo "VDEV-DATA: $addr 0 $((8 * MIB)) $want"
	else
		t_fail reconnect.data "read back $got, wrote $want"
	fi
}

if [ "${VHU_MODE:-}" = reconnect ]; then
	t_check inventory.count scsi_wait_count 8 60
	check_reconnect 0.6
else
	check_inventory
	check_multiqueue
	check_data
	check_hotplug
	check_cdrom
	check_discard
	check_errors
fi
echo "vhost_user_scsi: $T_FAILS failure(s)"
[ $T_FAILS -eq 0 ]
