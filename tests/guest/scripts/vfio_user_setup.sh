#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Host setup of guest_vfio_user_scsi (run in the test's work directory):
# the LUN images and the device spec for vdev-vfio-user.
#   vfio_user_setup.sh TARGETS LUNS CD_TARGET
# Writes: lun-T.L.img (2 MiB, sparse) for T < TARGETS, L < LUNS;
# cd.iso (data.bin, 256 KiB random, and data.md5) served at CD_TARGET.0 and
# CD_TARGET.1; cd2.iso (media.txt = `seq 7 60007`, which the guest
# regenerates for its checksum), the medium the guest has the agent put
# into CD_TARGET.0 at run time; hotplug.img (the hot-plug test's disk,
# added at run time);
# device.spec (the --device argument: virtio-scsi-pci, 2 request queues).
set -euo pipefail
targets=$1 luns=$2 cdt=$3

rm -f lun-*.img hotplug.img cd.iso cd2.iso device.spec vfu.sock vfu.ctl vfu.pid killed.flag
spec="virtio-scsi-pci,num-queues=2"
for ((t = 0; t < targets; t++)); do
	for ((l = 0; l < luns; l++)); do
		truncate -s 2M "lun-$t.$l.img"
		spec+=",lun$t.$l=lun-$t.$l.img"
	done
done
truncate -s 2M hotplug.img
rm -rf cdroot && mkdir cdroot
head -c 262144 /dev/urandom >cdroot/data.bin
(cd cdroot && md5sum data.bin >data.md5)
xorriso -as mkisofs -quiet -o cd.iso cdroot
rm -rf cdroot2 && mkdir cdroot2
seq 7 60007 >cdroot2/media.txt
xorriso -as mkisofs -quiet -o cd2.iso cdroot2
spec+=",lun$cdt.0=cdrom:cd.iso,lun$cdt.1=cdrom:cd.iso"
echo "$spec" >device.spec
echo "vfio_user_setup: $((targets * luns)) disks + 2 CD-ROMs, spec ${#spec} bytes"
