# SPDX-License-Identifier: MIT
# The vfio-user guest tests (issue 8): our whole virtio-scsi PCI function,
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
#
# Two memory set-ups:
#  - guest_vfio_user_scsi: guest RAM in a shared memfd, which QEMU passes
#    with each DMA_MAP; the device reaches it directly (134 LUNs).
#  - guest_vfio_user_nofd: plain guest RAM, which QEMU cannot share, so its
#    DMA_MAPs come without an fd and every byte the device reads or writes
#    travels in DMA_READ / DMA_WRITE messages (lib/vfio-user/vfu_dmaio.c);
#    the same checks on 6 LUNs, and the check script insists that the
#    daemon did go through messages.
if(NOT TARGET vdev-vfio-user)
  return()
endif()

set(_vfu ${CMAKE_CURRENT_SOURCE_DIR}/scripts)
set(_vfu_bin $<TARGET_FILE:vdev-vfio-user>)
# Relative: QEMU runs in the work directory (and a long build path could
# not be a socket name).
set(_vfu_sock vfu.sock)
set(_vfu_dev
  "{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\"${_vfu_sock}\"}}")

# vdev_vfio_user_guest_test(NAME TARGETS LUNS CD_TARGET CHECK_ENV QEMU_ARGS...)
function(vdev_vfio_user_guest_test name targets luns cdt check_env)
  set(wd ${CMAKE_CURRENT_BINARY_DIR}/${name})
  add_test(NAME ${name}
    COMMAND bash ${_vfu}/vfio_user_test.sh --name ${name} --workdir ${wd}
      --script ${_vfu}/vfio_user_scsi.sh
      --module virtio_pci --module virtio_scsi --module sd_mod --module sg
      --module sr_mod --module isofs
      --env VFU_TARGETS=${targets} --env VFU_LUNS=${luns} --env VFU_CD_TARGET=${cdt}
      --setup "bash ${_vfu}/vfio_user_setup.sh ${targets} ${luns} ${cdt}"
      --daemon "bash ${_vfu}/vfio_user_daemon.sh ${_vfu_bin}"
      --wait-for vfu.sock --wait-for vfu.ctl
      --daemon "bash ${_vfu}/vfio_user_agent.sh ${_vfu_bin}"
      --check "${check_env} bash ${_vfu}/vfio_user_check.sh"
      --timeout 240
      -- ${ARGN} -device ${_vfu_dev})
  set_tests_properties(${name} PROPERTIES LABELS guest TIMEOUT 600
    SKIP_RETURN_CODE 77 RESOURCE_LOCK vdev_guest_qemu)
endfunction()

vdev_vfio_user_guest_test(guest_vfio_user_scsi 4 33 4 "VFU_DMA=direct"
  -object memory-backend-memfd,id=mem,size=512M,share=on -machine memory-backend=mem)
vdev_vfio_user_guest_test(guest_vfio_user_nofd 1 4 1 "VFU_DMA=messages")
