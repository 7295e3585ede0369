#!/bin/sh
# SPDX-License-Identifier: MIT
# guest_vfio_user_scsi (/test.sh in the guest): our whole virtio-scsi PCI
# function, served by vdev-vfio-user through QEMU's vfio-user-pci, driven by
# Linux's own virtio_pci and virtio_scsi drivers.
#
# The host side (vfio_user_setup.sh) serves VFU_TARGETS targets of
# VFU_LUNS disks each (T.L, 2 MiB, empty) and two CD-ROMs at VFU_CD_TARGET.0
# and .1 (an ISO with data.bin and its data.md5; cd2.iso, with media.txt,
# is the medium the media-change check has put into .0). Host actions go out as
# console lines "VDEV-HOST: <command>" that vfio_user_agent.sh carries out
# (LUN changes on the daemon's control socket, killing the daemon); the
# guest waits for their effect, each wait bounded.
#
# Data written here is reported as "VDEV-DATA: <T.L> <md5>" lines, which
# vfio_user_check.sh compares with the image files after the run.
set -u

rc=0
pass() { echo "VDEV-TEST: PASS $*"; }
fail() { echo "VDEV-TEST: FAIL $*"; rc=1; }
host() { echo "VDEV-HOST: $*"; }
T=${VFU_TARGETS:-4} L=${VFU_LUNS:-33} CDT=${VFU_CD_TARGET:-4}
want=$((T * L + 2))
# The LUNs our data goes to: first, middle and last of each target.
data_luns=""
t=0
while [ $t -lt "$T" ]; do
	data_luns="$data_luns $t.0 $t.$((L / 2)) $t.$((L - 1))"
	t=$((t + 1))
done

# sd/sr device name of T.L ("" if none): /sys/bus/scsi/devices/H:0:T:L/block/*.
dev_of() {
	for b in /sys/bus/scsi/devices/*:0:${1%.*}:${1#*.}/block/*; do
		[ -e "$b" ] && { echo "${b##*/}"; return; }
	done
}
# Count LUNs that have a block device.
count_disks() {
	n=0
	for b in /sys/bus/scsi/devices/*:*:*:*/block/*; do
		[ -e "$b" ] && n=$((n + 1))
	done
	echo $n
}
# wait_until SECONDS CMD...: poll CMD every 0.2 s; false on timeout.
wait_until() {
	w=$(($1 * 5))
	shift
	while [ $w -gt 0 ]; do
		"$@" && return 0
		sleep 0.2
		w=$((w - 1))
	done
	return 1
}
all_disks_there() { [ "$(count_disks)" -eq "$want" ]; }

# ---- our PCI function, bound to virtio-pci and virtio_scsi ------------------
pci=""
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1048 ]; then
		pci=$d
	fi
done
if [ -z "$pci" ]; then
	fail "pci-function: no 1af4:1048 device in /sys/bus/pci/devices"
	exit 1
fi
bdf=${pci##*/}
drv=$(readlink "$pci/driver")
vdrv=$(readlink "$pci"/virtio*/driver)
if [ "${drv##*/}" = virtio-pci ] && [ "${vdrv##*/}" = virtio_scsi ]; then
	pass "pci-function ($bdf 1af4:1048, driver ${drv##*/}, virtio driver ${vdrv##*/})"
else
	fail "pci-function: $bdf driver '${drv##*/}', virtio driver '${vdrv##*/}'"
	exit 1
fi

# ---- all LUNs ---------------------------------------------------------------------
if wait_until 60 all_disks_there; then
	pass "luns ($want block devices: $T targets x $L disks + 2 CD-ROMs)"
else
	fail "luns: $(count_disks) block devices, want $want"
fi
bad=""
for a in $data_luns; do
	s=$(dev_of "$a")
	[ -n "$s" ] && [ "$(cat "/sys/block/$s/size")" = 4096 ] || bad="$bad $a"
	v=$(cat /sys/bus/scsi/devices/*:0:${a%.*}:${a#*.}/vendor 2>/dev/null)
	[ "${v%% *}" = LIBVDEV ] || bad="$bad $a(vendor '$v')"
done
[ -z "$bad" ] && pass "disk-identity (2 MiB, vendor LIBVDEV)" || fail "disk-identity:$bad"

# ---- data integrity ---------------------------------------------------------------
verify_data() {
	bad=""
	for a in $data_luns; do
		s=$(dev_of "$a")
		got=$(dd if="/dev/$s" bs=64k count=16 iflag=direct 2>/dev/null | md5sum)
		[ "${got%% *}" = "$(cat "/tmp/md5.$a")" ] || bad="$bad $a"
	done
	[ -z "$bad" ]
}
bad=""
for a in $data_luns; do
	s=$(dev_of "$a")
	dd if=/dev/urandom of="/tmp/data.$a" bs=64k count=16 2>/dev/null
	if [ -z "$s" ] || ! dd if="/tmp/data.$a" of="/dev/$s" bs=64k oflag=direct \
	    conv=fsync 2>/tmp/err; then
		bad="$bad $a($(cat /tmp/err | tail -n 1))"
		continue
	fi
	m=$(md5sum <"/tmp/data.$a")
	echo "${m%% *}" >"/tmp/md5.$a"
	echo "VDEV-DATA: $a ${m%% *}"
done
if [ -z "$bad" ] && verify_data; then
	pass "data-integrity (1 MiB random to $(echo $data_luns | wc -w) LUNs, read back direct)"
else
	fail "data-integrity:$bad"
fi

# ---- CD-ROM -------------------------------------------------------------------------
mkdir -p /mnt/cd
s=$(dev_of "$CDT.0")
if [ -n "$s" ] && mount -t iso9660 -o ro "/dev/$s" /mnt/cd 2>/tmp/err &&
    (cd /mnt/cd && md5sum -c data.md5 >/dev/null 2>&1); then
	pass "cdrom ($s: ISO mounted, data.bin checksum ok)"
else
	fail "cdrom: ${s:-no device for $CDT.0}: $(cat /tmp/err 2>/dev/null)"
fi
umount /mnt/cd 2>/dev/null

# ---- CD-ROM media change ---------------------------------------------------------------
# The agent puts cd2.iso (media.txt = `seq 7 60007`) into $CDT.0 through the
# daemon's change-media; it does so asynchronously, so until then a mount
# still shows the first ISO. sr looks at the medium again on each open (the
# unit attention after the change), so every try is a fresh mount; the first
# one after the change may fail on that unit attention. $CDT.1 must keep
# the first ISO.
sr=$(dev_of "$CDT.0")
sr1=$(dev_of "$CDT.1")
mnew=$(seq 7 60007 | md5sum)
mnew=${mnew%% *}
cd_why=""
# cd_changed: $sr holds cd2.iso, read correctly; else cd_why says what it holds.
cd_changed() {
	if ! mount -t iso9660 -o ro "/dev/$sr" /mnt/cd 2>/tmp/err; then
		cd_why="mount: $(tail -n 1 /tmp/err)"
		return 1
	fi
	got=$(md5sum </mnt/cd/media.txt 2>/dev/null)
	cd_why="media.txt md5 '${got%% *}' (want $mnew), files: $(ls /mnt/cd | tr '\n' ' ')"
	umount /mnt/cd
	[ "${got%% *}" = "$mnew" ]
}
if [ -z "$sr" ] || [ -z "$sr1" ]; then
	fail "cdrom-media-change: no device for $CDT.0 ('$sr') or $CDT.1 ('$sr1')"
else
	host "change-media $CDT.0 cd2.iso"
	if ! wait_until 20 cd_changed; then
		fail "cdrom-media-change: $sr still not the new medium after 20 s: $cd_why"
	elif ! mount -t iso9660 -o ro "/dev/$sr1" /mnt/cd 2>/tmp/err; then
		fail "cdrom-media-change: $sr1 ($CDT.1) no longer mounts: $(cat /tmp/err)"
	elif ! (cd /mnt/cd && md5sum -c data.md5 >/dev/null 2>&1); then
		umount /mnt/cd
		fail "cdrom-media-change: $sr1 ($CDT.1) lost the first ISO's data.bin"
	else
		umount /mnt/cd
		pass "cdrom-media-change ($sr: cd2.iso re-mounted, media.txt checksum ok;" \
			"$sr1 still the first ISO)"
	fi
fi

# ---- hot-plug ------------------------------------------------------------------------
hp=$((T + 2)).0
has_dev() { [ -n "$(dev_of "$hp")" ]; }
no_dev() { ! ls -d /sys/bus/scsi/devices/*:0:${hp%.*}:* >/dev/null 2>&1; }
host "add-lun $hp hotplug.img"
if wait_until 30 has_dev; then
	s=$(dev_of "$hp")
	if dd if=/dev/urandom of=/tmp/hp bs=64k count=4 2>/dev/null &&
	    dd if=/tmp/hp of="/dev/$s" bs=64k oflag=direct 2>/dev/null &&
	    [ "$(dd if="/dev/$s" bs=64k count=4 iflag=direct 2>/dev/null | md5sum)" = \
	      "$(md5sum </tmp/hp)" ]; then
		pass "hotplug-add ($hp appeared as $s, data ok)"
	else
		fail "hotplug-add: $hp as $s: I/O failed"
	fi
else
	# Linux takes the event's lun[2..3] as the LUN number as they are
	# (virtio_scsi.c: virtscsi_handle_transport_reset): flat-space
	# addressing there (0x40 in lun[2]) names LUN 0 as 16384.
	ls -d /sys/bus/scsi/devices/*:0:${hp%.*}:* >/tmp/hp.ls 2>/dev/null
	fail "hotplug-add: $hp did not appear within 30 s (seen: $(cat /tmp/hp.ls))"
fi
host "remove-lun $hp"
if wait_until 30 no_dev; then
	pass "hotplug-remove ($hp gone)"
else
	fail "hotplug-remove: $hp still there after 30 s"
fi

# ---- MSI-X ----------------------------------------------------------------------------
ints=$(grep -E 'virtio[0-9]+-(config|request)' /proc/interrupts)
req=$(echo "$ints" | awk '/-request/ { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) n += $i }
	END { print n + 0 }')
nmsi=$(ls "$pci/msi_irqs" 2>/dev/null | wc -l)
modes=$(cat "$pci"/msi_irqs/* 2>/dev/null | sort -u | tr '\n' ' ')
if echo "$ints" | grep -q -- '-config' && [ "$req" -gt 0 ] && [ "$nmsi" -ge 3 ] &&
    [ "$modes" = "msix " ]; then
	pass "msix ($nmsi MSI-X vectors; $req request-queue interrupts)"
else
	fail "msix: msi_irqs $nmsi ($modes), request interrupts $req; $ints"
fi

# ---- guest-initiated device reset: unbind and bind virtio-pci -------------------------
echo "$bdf" >/sys/bus/pci/drivers/virtio-pci/unbind
gone=$(count_disks)
echo "$bdf" >/sys/bus/pci/drivers/virtio-pci/bind
if [ "$gone" -eq 0 ] && wait_until 60 all_disks_there && verify_data; then
	pass "reset (unbind: 0 disks; bind: $want back, data verified)"
else
	fail "reset: $gone disks after unbind, $(count_disks) after bind (want $want)"
fi

# ---- the daemon dies while the guest runs -----------------------------------------------
# The device then reads as absent (all-ones) through QEMU; an I/O on it may
# never complete (virtio-scsi's error handler waits for the device), so it
# runs in the background and the script only waits a bounded time for it.
absent() { [ "$(od -An -tx1 -N2 "$pci/config" | tr -d ' ')" = ffff ]; }
s=$(dev_of 0.0)
echo 5 >"/sys/block/$s/device/timeout"
host "kill-daemon"
if wait_until 30 absent; then
	t0=$(cut -d. -f1 /proc/uptime)
	(dd if="/dev/$s" of=/dev/null bs=4k count=1 skip=7 iflag=direct 2>/dev/null
	 echo $? >/tmp/io.rc) &
	wait_until 15 test -e /tmp/io.rc
	dt=$(($(cut -d. -f1 /proc/uptime) - t0))
	if [ ! -e /tmp/io.rc ]; then
		pass "daemon-killed (device reads as absent; I/O on $s pending after $dt s, not hung)"
	elif [ "$(cat /tmp/io.rc)" != 0 ]; then
		pass "daemon-killed (device reads as absent; I/O on $s failed after $dt s)"
	else
		fail "daemon-killed: an I/O on $s succeeded with the daemon gone"
	fi
else
	fail "daemon-killed: config space of $bdf still readable 30 s after the kill request"
fi
# Power-off cannot finish with the device gone: Linux 6.1's virtio-pci
# shutdown (vp_reset) polls the device status until it reads 0, and a dead
# vfio-user function reads all-ones. After /init's verdict line, an
# emergency restart (SysRq b: no device shutdown) ends the guest, and with
# -no-reboot QEMU exits; QEMU itself keeps running throughout (the failed
# accesses are errors on its stderr, the vCPUs go on).
echo 1 >/proc/sys/kernel/sysrq
(sleep 10; echo b >/proc/sysrq-trigger) &
exit $rc
