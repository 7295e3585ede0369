# Sources of lib/virtio (appended to VDEV_SOURCES). Empty until its issue lands.
