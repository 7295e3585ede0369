# SPDX-License-Identifier: MIT
# The vfio-user guest test (issue 8): our whole virtio-scsi PCI function,
# served by vdev-vfio-user, in a Linux guest through QEMU 11's vfio-user-pci
# (scripts/qemu-forky.sh fetches that QEMU: Debian 12's 7.2 has no
# vfio-user client). Included by tests/guest/CMakeLists.txt after
# vdev_guest_test(); the test command is scripts/vfio_user_test.sh, which
# finds the QEMU and then runs guest-test.sh as vdev_guest_test() would.
#
# Host side, in the work directory: vfio_user_setup.sh (images, ISOs, the
# device spec), the daemon (vfio_user_daemon.sh: vdev-vfio-user with a
# control socket), the agent (vfio_user_agent.sh: the guest's
# "VDEV-HOST: ..." requests), vfio_user_check.sh (the images hold what the
# guest wrote). The guest: scripts/vfio_user_scsi.sh.
if(NOT TARGET vdev-vfio-user)
  return()
endif()

set(_vfu_targets 4)
set(_vfu_luns 33)
set(_vfu_cdt 4)
set(_vfu ${CMAKE_CURRENT_SOURCE_DIR}/scripts)
set(_vfu_bin $<TARGET_FILE:vdev-vfio-user>)
set(_vfu_wd ${CMAKE_CURRENT_BINARY_DIR}/guest_vfio_user_scsi)
# Relative: QEMU runs in the work directory (and a long build path could
# not be a socket name).
set(_vfu_sock vfu.sock)

set(_vfu_args --name guest_vfio_user_scsi --workdir ${_vfu_wd}
  --script ${_vfu}/vfio_user_scsi.sh
  --module virtio_pci --module virtio_scsi --module sd_mod --module sg
  --module sr_mod --module isofs
  --env VFU_TARGETS=${_vfu_targets} --env VFU_LUNS=${_vfu_luns}
  --env VFU_CD_TARGET=${_vfu_cdt}
  --setup "bash ${_vfu}/vfio_user_setup.sh ${_vfu_targets} ${_vfu_luns} ${_vfu_cdt}"
  --daemon "bash ${_vfu}/vfio_user_daemon.sh ${_vfu_bin}"
  --daemon "bash ${_vfu}/vfio_user_agent.sh ${_vfu_bin}"
  --wait-for vfu.sock --wait-for vfu.ctl
  --check "bash ${_vfu}/vfio_user_check.sh"
  --timeout 240)
add_test(NAME guest_vfio_user_scsi
  COMMAND bash ${_vfu}/vfio_user_test.sh ${_vfu_args} --
    -object memory-backend-memfd,id=mem,size=512M,share=on -machine memory-backend=mem
    -device
    "{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\"${_vfu_sock}\"}}")
set_tests_properties(guest_vfio_user_scsi PROPERTIES LABELS guest TIMEOUT 600
  SKIP_RETURN_CODE 77 RESOURCE_LOCK vdev_guest_qemu)
