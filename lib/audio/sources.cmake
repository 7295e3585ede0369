# Sources of lib/audio (appended to VDEV_SOURCES). Empty until its issue lands.
