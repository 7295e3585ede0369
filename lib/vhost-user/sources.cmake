# Sources of lib/vhost-user (appended to VDEV_SOURCES). One file per line.
list(APPEND VDEV_SOURCES
  lib/vhost-user/vu_server.c
  lib/vhost-user/vu_proto.c
  lib/vhost-user/vu_mem.c
  lib/vhost-user/vu_vring.c
  lib/vhost-user/vu_log.c
  lib/vhost-user/vu_inflight.c
)
