# Sources of lib/cpuid (appended to VDEV_SOURCES). Empty until its issue lands.
