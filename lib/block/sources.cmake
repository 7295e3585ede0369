# Sources of lib/block (appended to VDEV_SOURCES). Empty until its issue lands.
