#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Host check of guest_vfio_user_scsi, after QEMU and the daemons ended:
# every "VDEV-DATA: T.L MD5" line of the console matches the first MiB of
# lun-T.L.img (what the guest wrote reached the files through our device),
# QEMU noticed the killed daemon (its stderr says the socket closed), and
# the DMA went the way the memory set-up says (VFU_DMA, below) and the daemon
# logged no warning or error.
set -uo pipefail
log=${VDEV_GUEST_LOG:?}
n=0 bad=0
while read -r addr md5; do
	got=$(head -c 1048576 "lun-$addr.img" | md5sum)
	if [[ ${got%% *} == "$md5" ]]; then
		n=$((n + 1))
	else
		echo "check: lun-$addr.img: md5 ${got%% *}, the guest wrote $md5"
		bad=$((bad + 1))
	fi
done < <(tr -d '\r' <"$log" | grep -oE 'VDEV-DATA: [0-9]+\.[0-9]+ [0-9a-f]{32}' | cut -d' ' -f2-)
echo "check: $n image(s) match the guest's data, $bad differ"
[[ $n -gt 0 && $bad -eq 0 ]] || exit 1
# VFU_DMA (the cmake file sets it): "messages" - guest RAM had no fd, so the
# daemon must have moved the data in DMA_READ/DMA_WRITE messages (it says so
# at the first one; the counts at a clean close, which the killed daemon
# never reaches); "direct" - shared RAM, no messages.
dma=$(grep -ohE 'DMA through messages: .*' daemon-*.log | head -n 1)
echo "check: ${dma:-no DMA messages logged}"
case ${VFU_DMA:-} in
messages) [[ -n $dma ]] || { echo "check: the daemon did not use DMA messages"; exit 1; } ;;
direct) [[ -z $dma ]] || { echo "check: shared RAM went through messages"; exit 1; } ;;
esac
if [[ -e killed.flag ]]; then
	grep -E 'server closed socket|failed to read header|Broken pipe' qemu.stderr ||
		{ echo "check: QEMU's stderr does not mention the lost server"; exit 1; }
fi
# Everything the guest did is a well-behaved driver's work: the device model
# had nothing to warn about (a warning here is a bug in it or in this test).
warns=$(grep -hE ': (warn|error): ' daemon-0.log)
if [[ -n $warns ]]; then
	echo "check: the daemon warned:"
	echo "$warns" | head -n 20
	exit 1
fi
