# Sources of lib/virtio (appended to VDEV_SOURCES). One file per line.
list(APPEND VDEV_SOURCES
  lib/virtio/vq.c
  lib/virtio/vq_split.c
  lib/virtio/vq_packed.c
  lib/virtio/vq_state.c
  lib/virtio/vq_inflight.c
  lib/virtio/virtio_dev.c
  lib/virtio/virtio_state.c
  lib/virtio/virtio_pci.c
  lib/virtio/virtio_mmio.c
  lib/virtio/virtio_rng.c
  lib/virtio/virtio_scsi.c
  lib/virtio/virtio_ext.c
)
