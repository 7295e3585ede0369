/* SPDX-License-Identifier: MIT */
#include "core.h"

#define VDEV__STR2(x) #x
#define VDEV__STR(x) VDEV__STR2(x)

unsigned int vdev_version(void)
{
	return VDEV_VERSION_HEX;
}

const char *vdev_version_string(void)
{
	return VDEV__STR(VDEV_VERSION_MAJOR) "." VDEV__STR(VDEV_VERSION_MINOR) "." VDEV__STR(
		VDEV_VERSION_PATCH);
}
