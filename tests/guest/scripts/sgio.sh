#!/bin/sh
# SPDX-License-Identifier: MIT
# guest_sgio: find QEMU's scsi-hd (virtio-scsi) as an sg node and a block
# device, then run progs/sgio_guest.c on them. The SCSI scan runs
# asynchronously after virtio_scsi loads, so wait for it (20 s at most).
sg='' sd='' tries=0
while :; do
	for d in /sys/class/scsi_generic/sg*; do
		[ -r "$d/device/vendor" ] || continue
		read -r vendor <"$d/device/vendor"
		[ "$vendor" = QEMU ] || continue
		for b in "$d"/device/block/*; do
			[ -e "$b" ] && sd=/dev/${b##*/}
		done
		sg=/dev/${d##*/}
	done
	[ -n "$sg" ] && [ -n "$sd" ] && [ -c "$sg" ] && [ -b "$sd" ] && break
	tries=$((tries + 1))
	if [ $tries -ge 200 ]; then
		echo "VDEV-TEST: FAIL sgio-setup: no QEMU SCSI disk with sg and block nodes"
		ls -l /sys/class/scsi_generic /sys/block 2>&1
		exit 1
	fi
	sleep 0.1
done
echo "sgio: disk $sd, generic $sg"
sgio_guest "$sg" "$sd"
rc=$?
# sg3_utils (dynamically linked, copied with its libraries) on the same node.
if [ -n "${VDEV_SG_INQ:-}" ]; then
	out=$(sg_inq "$sg" 2>&1)
	if echo "$out" | grep -q 'Vendor identification: QEMU'; then
		echo "VDEV-TEST: PASS sg3_utils.inquiry"
	else
		echo "VDEV-TEST: FAIL sg3_utils.inquiry: sg_inq $sg: $out"
		rc=1
	fi
fi
exit $rc
