# Sources of lib/pveoi (appended to VDEV_SOURCES). Empty until its issue lands.
