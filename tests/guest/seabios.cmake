# SPDX-License-Identifier: MIT
# Firmware tests (label firmware): SeaBIOS's own virtio-scsi driver boots
# from our virtio-scsi — our whole PCI function served by vdev-vfio-user
# through QEMU 11's vfio-user-pci (scripts/qemu-forky.sh), or our rings
# behind QEMU's vhost-user-scsi-pci — and runs the boot sector
# seabios/diskcheck.S (a hashed 32 KiB read, a 4 KiB write read back).
# Seconds under TCG and no static programs in the guest, so unlike the
# Linux guest tests they run in every build, sanitizers included: the
# daemon under ASan/UBSan against a real client and a real driver.
# scripts/seabios_boot.sh does the work.
if(NOT TARGET vdev-vfio-user)
  return()
endif()
find_program(VDEV_AS as)
find_program(VDEV_LD ld)
if(NOT VDEV_AS OR NOT VDEV_LD)
  message(STATUS "firmware tests: off (no as/ld)")
  return()
endif()

set(_sb_bin ${CMAKE_CURRENT_BINARY_DIR}/diskcheck.bin)
add_custom_command(OUTPUT ${_sb_bin}
  COMMAND ${VDEV_AS} --32 -o ${CMAKE_CURRENT_BINARY_DIR}/diskcheck.o
          ${CMAKE_CURRENT_SOURCE_DIR}/seabios/diskcheck.S
  COMMAND ${VDEV_LD} -melf_i386 -Ttext 0x7c00 --oformat binary -o ${_sb_bin}
          ${CMAKE_CURRENT_BINARY_DIR}/diskcheck.o
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/seabios/diskcheck.S VERBATIM)
add_custom_target(vdev-seabios-diskcheck ALL DEPENDS ${_sb_bin})

# vfio-user: shared memfd RAM, and plain RAM (DMA messages); vhost-user:
# vdev-vhost-user-scsi behind Debian 12's QEMU (its vhost-user-scsi-pci).
set(_sb_vfu $<TARGET_FILE:vdev-vfio-user>)
set(_sb_cases vfio-user vfio_user ${_sb_vfu} vfio-user-messages vfio_user_messages ${_sb_vfu})
if(TARGET vdev-vhost-user-scsi)
  list(APPEND _sb_cases vhost-user vhost_user $<TARGET_FILE:vdev-vhost-user-scsi>)
endif()
while(_sb_cases)
  list(POP_FRONT _sb_cases transport suffix daemon)
  set(name firmware_seabios_${suffix})
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scripts/seabios_boot.sh ${transport}
            ${daemon} ${_sb_bin} ${CMAKE_CURRENT_BINARY_DIR}/${name})
  set_tests_properties(${name} PROPERTIES LABELS firmware TIMEOUT 300
    SKIP_RETURN_CODE 77 RESOURCE_LOCK vdev_guest_qemu)
endwhile()
