#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Host daemon of guest_vfio_user_scsi: runs vdev-vfio-user with the device
# spec from vfio_user_setup.sh, its pid in vfu.pid (for the agent's
# kill-daemon). SIGTERM is passed on. Exit: the daemon's status, except
# that a SIGKILL the test asked for (killed.flag exists) counts as 0.
#   vfio_user_daemon.sh DAEMON_BINARY
set -uo pipefail
"$1" --socket vfu.sock --control vfu.ctl --device "$(cat device.spec)" &
pid=$!
echo "$pid" >vfu.pid
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
# wait returns early (> 128) when a trapped signal arrives: wait again.
while :; do
	wait "$pid"
	rc=$?
	kill -0 "$pid" 2>/dev/null || break
done
if [[ $rc -eq 137 && -e killed.flag ]]; then
	echo "vfio_user_daemon: the daemon was killed on the test's request"
	exit 0
fi
exit "$rc"
