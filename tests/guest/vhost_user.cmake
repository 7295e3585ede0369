# SPDX-License-Identifier: MIT
# Guest tests of vdev-vhost-user-scsi (examples/vhost-user-scsi): Linux's
# virtio_scsi/sd/sr/sg drivers and sg3_utils through QEMU's
# vhost-user-scsi-pci (issue 5). Included from tests/guest/CMakeLists.txt;
# uses its vdev_guest_test(), _g and _sg3. Host side (layout, daemon
# command line, host actions, checks): scripts/vhost_user_actions.sh.
if(NOT TARGET vdev-vhost-user-scsi)
  message(STATUS "guest tests: no vdev-vhost-user-scsi, no vhost-user guest tests")
  return()
endif()

set(_vhu_act ${_g}/scripts/vhost_user_actions.sh)
set(_vhu_bins)
foreach(tool sg_inq sg_vpd sg_readcap sg_unmap sg_write_same sg_reset)
  find_program(VDEV_GUEST_${tool} ${tool})
  if(VDEV_GUEST_${tool})
    list(APPEND _vhu_bins ${VDEV_GUEST_${tool}})
  endif()
endforeach()
# QEMU's vhost-user-scsi-pci with guest RAM the daemon can map.
set(_vhu_qemu
  -chardev socket,id=vus,path=vhost.sock
  -device vhost-user-scsi-pci,chardev=vus,num_queues=2
  -object memory-backend-memfd,id=mem,size=512M,share=on
  -machine memory-backend=mem)

# 130 LUNs (4 targets x 32 disks, 2 CD-ROMs), 2 request queues: inventory,
# multi-queue, data integrity (guest and host side), hot-plug and
# hot-unplug, CD-ROM mount and media change, discard / UNMAP / WRITE SAME,
# LUN reset and an injected medium error.
vdev_guest_test(guest_vhost_user_scsi
  SCRIPT ${_g}/scripts/vhost_user_scsi.sh
  FILES ${_g}/scripts/lib_scsi.sh=/lib/lib_scsi.sh
  BINS ${_vhu_bins}
  MODULES virtio_pci virtio_scsi sd_mod sr_mod sg isofs
  SETUP "bash ${_vhu_act} setup"
  DAEMONS "bash ${_vhu_act} daemon $<TARGET_FILE:vdev-vhost-user-scsi> 2"
  WAIT_FOR vhost.sock control.sock
  HOST_ACTIONS ${_vhu_act}
  CHECKS "bash ${_vhu_act} check-data"
  TIMEOUT 420
  QEMU_ARGS ${_vhu_qemu})

# Reconnect: the daemon is SIGKILLed and restarted (host action
# daemon-restart) during a guest write loop; the loop completes, the data
# verifies (guest and host). QEMU's vhost-user-scsi reconnects to its
# back end (chardev reconnect=, reconnect-ms= in QEMU 9.2+) only since QEMU 8.2, so this one boots
# Debian forky's QEMU (scripts/qemu-forky.sh; skipped if unobtainable).
vdev_guest_test(guest_vhost_user_reconnect
  SCRIPT ${_g}/scripts/vhost_user_scsi.sh
  FILES ${_g}/scripts/lib_scsi.sh=/lib/lib_scsi.sh
  MODULES virtio_pci virtio_scsi sd_mod sg
  ENV VHU_MODE=reconnect
  SETUP "bash ${_vhu_act} setup"
  DAEMONS "bash ${_vhu_act} daemon $<TARGET_FILE:vdev-vhost-user-scsi> 2 small"
  WAIT_FOR vhost.sock control.sock
  HOST_ACTIONS ${_vhu_act}
  CHECKS "bash ${_vhu_act} check-data"
  QEMU forky
  TIMEOUT 300
  QEMU_ARGS -chardev socket,id=vus,path=vhost.sock,reconnect-ms=1000
            -device vhost-user-scsi-pci,chardev=vus,num_queues=2
            -object memory-backend-memfd,id=mem,size=512M,share=on
            -machine memory-backend=mem)
