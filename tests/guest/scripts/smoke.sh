#!/bin/sh
# SPDX-License-Identifier: MIT
# guest_smoke: libvdev's block backends inside the guest (progs/hello_guest.c),
# and a dynamically linked host program (sg_inq, with the libraries and the
# loader that mkinitramfs.sh copied from ldd's list) runs in the guest.
echo "smoke: $(uname -r), $(nproc) CPUs"
hello_guest
rc=$?
if [ -n "${VDEV_SG_INQ:-}" ]; then
	if out=$(sg_inq -V 2>&1) && echo "$out" | grep -q 'Version string'; then
		echo "VDEV-TEST: PASS dynamic-bin (sg_inq: $out)"
	else
		echo "VDEV-TEST: FAIL dynamic-bin: sg_inq -V: $out"
		rc=1
	fi
fi
exit $rc
