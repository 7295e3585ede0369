# Sources of lib/vhost-user (appended to VDEV_SOURCES). One file per line.
list(APPEND VDEV_SOURCES
)
