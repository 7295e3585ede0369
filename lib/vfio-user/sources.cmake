# Sources of lib/vfio-user (appended to VDEV_SOURCES). One file per line.
list(APPEND VDEV_SOURCES
  lib/vfio-user/vfu_server.c
  lib/vfio-user/vfu_proto.c
  lib/vfio-user/vfu_json.c
  lib/vfio-user/vfu_dma.c
  lib/vfio-user/vfu_dmaio.c
  lib/vfio-user/vfu_irq.c
  lib/vfio-user/vfu_mig.c
  lib/vfio-user/vfu_dirty.c
)
