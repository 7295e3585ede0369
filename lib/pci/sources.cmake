list(APPEND VDEV_SOURCES
  lib/pci/pci_config.c
  lib/pci/pci_bar.c
  lib/pci/pci_cap.c
  lib/pci/pci_msi.c
  lib/pci/pci_state.c
  lib/pci/pci_testdev.c)
