# Sources of lib/usb (appended to VDEV_SOURCES). Empty until its issue lands.
