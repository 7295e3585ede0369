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
# shellcheck source=vfio_user_qemu.sh
. "$here/vfio_user_qemu.sh"
vfu_find_qemu "vfio-user guest test" "$root"
exec bash "$here/../guest-test.sh" "$@"
