#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest entry of the vfio-user guest tests: QEMU 11 with the vfio-user-pci
# client from scripts/qemu-forky.sh (cached; Debian 12's QEMU 7.2 has no
# vfio-user client), then tests/guest/guest-test.sh with the arguments.
# Skips (77, loudly) when forky's archive cannot be reached and nothing is
# cached; VDEV_QEMU set by the caller wins.
#   vfio_user_test.sh GUEST_TEST_ARGS...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../../..
if [[ -z ${VDEV_QEMU:-} ]]; then
	rc=0
	qemu=$(bash "$root/scripts/qemu-forky.sh" | tail -n 1) || rc=$?
	if [[ $rc -eq 77 ]]; then
		echo "=================================================================="
		echo "SKIPPED: vfio-user guest test: no QEMU with vfio-user-pci" \
		     "(scripts/qemu-forky.sh could not reach Debian forky)"
		echo "=================================================================="
		exit 77
	fi
	[[ $rc -eq 0 && -x $qemu ]] || { echo "vfio_user_test: qemu-forky.sh failed ($rc)"; exit 1; }
	export VDEV_QEMU=$qemu
fi
echo "vfio_user_test: QEMU $("$VDEV_QEMU" --version | head -n 1) ($VDEV_QEMU)"
exec bash "$here/../guest-test.sh" "$@"
