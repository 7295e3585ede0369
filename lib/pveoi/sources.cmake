# Sources of lib/pveoi (appended to VDEV_SOURCES): the PV-EOI helper and
# the user-space local APIC that is its reference user.
list(APPEND VDEV_SOURCES
  lib/pveoi/pveoi.c)
list(APPEND VDEV_SOURCES
  lib/pveoi/lapic.c
  lib/pveoi/lapic_regs.c
  lib/pveoi/lapic_timer.c
  lib/pveoi/lapic_state.c)
