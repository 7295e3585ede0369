#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Host agent of guest_vfio_user_scsi: follows the serial console
# ($VDEV_GUEST_LOG) and carries out the guest's "VDEV-HOST: <command>"
# lines, each once, in order:
#   add-lun T.L FILE, remove-lun T.L, change-media T.L FILE|eject
#                  -> vdev-vfio-user's control socket (vfu.ctl)
#   kill-daemon    -> SIGKILL to the daemon (vfu.pid), killed.flag first
# Runs until SIGTERM (a harness daemon).
#   vfio_user_agent.sh DAEMON_BINARY
set -uo pipefail
bin=$1
log=${VDEV_GUEST_LOG:?}
while [[ ! -e $log ]]; do sleep 0.1; done
# --pid: tail (and with it the loop, at end of input) ends within a second
# of this shell, however that is stopped: SIGTERM ends only this shell, not
# the pipeline's processes, which would otherwise live on and carry out the
# next run's requests a second time (the log is rewritten in place).
tail -n +1 -F --pid=$$ "$log" 2>/dev/null | while IFS= read -r line; do
	[[ $line == *VDEV-HOST:\ * ]] || continue
	cmd=${line#*VDEV-HOST: }
	cmd=${cmd//$'\r'/}
	case $cmd in
	add-lun\ *|remove-lun\ *|change-media\ *)
		echo "agent: $cmd -> $("$bin" --send vfu.ctl "$cmd" 2>&1)" ;;
	kill-daemon)
		touch killed.flag
		kill -KILL "$(cat vfu.pid)" && echo "agent: daemon $(cat vfu.pid) killed" ;;
	*)
		echo "agent: unknown host action '$cmd'" ;;
	esac
done
