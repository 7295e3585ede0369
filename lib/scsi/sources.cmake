# Sources of lib/scsi (appended to VDEV_SOURCES). Empty until its issue lands.
