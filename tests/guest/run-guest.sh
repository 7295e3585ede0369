#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Boot a Linux guest test under QEMU (TCG) and judge it from its serial
# console. Around the boot it can run host-side commands: setup commands
# (in order, before anything else; one failing fails the run), daemons
# (started in the background before QEMU, each optionally waited for until
# a path exists, e.g. its socket; stopped with SIGTERM after QEMU ends),
# checks (after the daemons stopped; one failing fails the run) and
# teardown commands (always, at the end). Commands run under `bash -c`
# in the work directory, with VDEV_GUEST_WORKDIR and VDEV_GUEST_LOG
# (the serial log) in the environment. QEMU runs there too, and relative
# --wait-for paths are taken from there: a test can name its socket and
# disk image "vhost.sock" and "disk.img" everywhere.
#
# Verdict: PASS only if the guest printed "VDEV-GUEST-DONE rc=0", at least
# one "VDEV-TEST: PASS <name>" and no "VDEV-TEST: FAIL <name>: <why>", QEMU
# ended before the timeout, every daemon exited cleanly (0, or by our
# SIGTERM) and every check passed. The report lists each VDEV-TEST line,
# the guest uptime when its test script started (the boot time), the wall
# time, kernel and QEMU versions; on failure also the last 50 console lines
# and QEMU's stderr.
#
# Host actions (--actions FILE): things the host must do WHILE the guest
# runs, at the moment the guest script is ready for them (hot-plug, media
# change, killing a daemon). The guest's /lib/vdev.sh helper
# `host_action ACTION ARGS...` writes "VDEV-HOST: ACTION ARGS..." on a
# second serial port (ttyS1: `-chardev pipe` on the FIFOs hostact.in and
# hostact.out in the work directory + `-serial chardev:vdevhost`; the
# console stays free of the protocol, kernel messages cannot garble it).
# The harness runs `bash FILE ACTION ARGS...` in the work directory (with
# a --action-timeout limit) and answers "VDEV-ACK ACTION RC" on the same
# port; host_action returns RC. One action is built in:
#   daemon-restart N [SIGNAL]   send SIGNAL (default KILL) to daemon N,
#                               wait for it and start its command again
#                               (its log continues in daemon-N.log); the
#                               --wait-for paths given after its --daemon
#                               are removed first and waited for again,
#                               so the action ends once it is ready
# The kernel command line gets vdev.host_actions=1 (host_action fails at
# once without it). Every action and its output goes into the report and
# into hostact.log.
#
# Usage: run-guest.sh --kernel FILE --initrd FILE [options] [-- QEMU_ARGS...]
#   --kernel FILE       the bzImage
#   --initrd FILE       the initramfs (mkinitramfs.sh)
#   --workdir DIR       where logs go (default: a new directory under /tmp)
#   --name NAME         the test's name in the report (default: guest)
#   --timeout SECONDS   hard limit for QEMU (default: 300, or $VDEV_GUEST_TIMEOUT)
#   --mem MIB           guest RAM (default 512)
#   --append TEXT       more kernel command line
#   --setup CMD         host command before QEMU (repeatable)
#   --daemon CMD        host daemon started before QEMU (repeatable)
#   --wait-for PATH     before QEMU, wait until PATH exists (see --wait-timeout);
#                       after a --daemon it is also that daemon's readiness
#                       for daemon-restart
#   --wait-timeout S    how long --wait-for waits (default 30)
#   --check CMD         host command after QEMU and the daemons (repeatable)
#   --teardown CMD      host command at the very end, always (repeatable)
#   --qemu PATH         the QEMU binary (default: qemu-system-x86_64, or $VDEV_QEMU)
#   --actions FILE      host action handlers (see above)
#   --action-timeout S  limit for one host action (default 120)
# Exit: 0 pass, 1 fail, 77 skip (no QEMU binary), 2 usage.
set -uo pipefail

kernel='' initrd='' workdir='' name=guest mem=512 append=''
timeout_s=${VDEV_GUEST_TIMEOUT:-300}
wait_s=30
qemu=${VDEV_QEMU:-qemu-system-x86_64}
actions='' action_s=120
setups=() daemons=() daemon_waits=() waits=() checks=() teardowns=() qemu_args=()

usage() { awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; }
die() { echo "run-guest: $*" >&2; exit 2; }
need() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"; }

while [[ $# -gt 0 ]]; do
	case $1 in
	--kernel) need "$@"; kernel=$2; shift ;;
	--initrd) need "$@"; initrd=$2; shift ;;
	--workdir) need "$@"; workdir=$2; shift ;;
	--name) need "$@"; name=$2; shift ;;
	--timeout) need "$@"; timeout_s=$2; shift ;;
	--mem) need "$@"; mem=$2; shift ;;
	--append) need "$@"; append=$2; shift ;;
	--setup) need "$@"; setups+=("$2"); shift ;;
	--daemon) need "$@"; daemons+=("$2"); daemon_waits+=(''); shift ;;
	--wait-for) need "$@"; waits+=("$2")
		# Belongs to the last --daemon (paths are kept newline-separated).
		[[ ${#daemons[@]} -eq 0 ]] ||
			daemon_waits[-1]+="$2"$'\n'
		shift ;;
	--wait-timeout) need "$@"; wait_s=$2; shift ;;
	--check) need "$@"; checks+=("$2"); shift ;;
	--teardown) need "$@"; teardowns+=("$2"); shift ;;
	--qemu) need "$@"; qemu=$2; shift ;;
	--actions) need "$@"; actions=$2; shift ;;
	--action-timeout) need "$@"; action_s=$2; shift ;;
	--) shift; qemu_args=("$@"); break ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ -f $kernel ]] || die "no --kernel file ('$kernel')"
[[ -f $initrd ]] || die "no --initrd file ('$initrd')"
[[ $timeout_s =~ ^[0-9]+$ && $timeout_s -gt 0 ]] || die "bad --timeout '$timeout_s'"
[[ $wait_s =~ ^[0-9]+$ ]] || die "bad --wait-timeout '$wait_s'"
[[ $action_s =~ ^[0-9]+$ && $action_s -gt 0 ]] || die "bad --action-timeout '$action_s'"
[[ -z $actions || -f $actions ]] || die "no --actions file ('$actions')"
[[ -z $actions ]] || actions=$(realpath "$actions")
if ! command -v "$qemu" >/dev/null 2>&1; then
	echo "=================================================================="
	echo "SKIPPED: $name: $qemu not found (install qemu-system-x86)"
	echo "=================================================================="
	exit 77
fi
[[ -n $workdir ]] || workdir=$(mktemp -d "${TMPDIR:-/tmp}/vdev-guest.XXXXXX")
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
kernel=$(realpath "$kernel")
initrd=$(realpath "$initrd")
log=$workdir/serial.log
qerr=$workdir/qemu.stderr
export VDEV_GUEST_WORKDIR=$workdir VDEV_GUEST_LOG=$log
: >"$log"
: >"$qerr"

problems=()
daemon_pids=()
t0=$SECONDS

# run_cmd KIND CMD: run a host command, its output into the report.
run_cmd() {
	local kind=$1 cmd=$2 rc
	echo "run-guest: $kind: $cmd"
	(cd "$workdir" && bash -c "$cmd") 2>&1 | sed 's/^/    /'
	rc=${PIPESTATUS[0]}
	[[ $rc -eq 0 ]] || echo "run-guest: $kind exited $rc: $cmd"
	return "$rc"
}

stop_daemons() {
	local i pid rc waited
	for i in "${!daemon_pids[@]}"; do
		pid=${daemon_pids[$i]}
		[[ -n $pid ]] || continue
		daemon_pids[$i]=
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
			waited=0
			while kill -0 "$pid" 2>/dev/null && [[ $waited -lt 100 ]]; do
				sleep 0.1
				waited=$((waited + 1))
			done
			if kill -0 "$pid" 2>/dev/null; then
				kill -KILL "$pid" 2>/dev/null
				problems+=("daemon $i did not stop on SIGTERM within 10 s (killed)")
			fi
		fi
		wait "$pid" 2>/dev/null
		rc=$?
		echo "run-guest: daemon $i exited $rc (log: $workdir/daemon-$i.log)"
		# 143 = killed by our SIGTERM without a handler.
		if [[ $rc -ne 0 && $rc -ne 143 ]]; then
			problems+=("daemon $i exited $rc: ${daemons[$i]}")
			sed 's/^/    daemon: /' "$workdir/daemon-$i.log" | tail -n 30
		fi
	done
}

# The host-action FIFOs' fds (set once opened): not for QEMU, daemons or handlers.
ha_in='' ha_out=''
close_ha() {
	[[ -z $ha_in ]] || exec {ha_in}>&-
	[[ -z $ha_out ]] || exec {ha_out}>&-
}

# start_daemon I [append]: run daemon I's command in the background.
start_daemon() {
	local i=$1 dlog=$workdir/daemon-$1.log
	[[ ${2:-} == append ]] || : >"$dlog"
	(close_ha; cd "$workdir" && exec bash -c "exec ${daemons[$i]}") >>"$dlog" 2>&1 &
	daemon_pids[$i]=$!
}

# abs_path P: a --wait-for path, relative ones taken from the work directory.
abs_path() {
	if [[ $1 == /* ]]; then echo "$1"; else echo "$workdir/$1"; fi
}

# wait_path P CMD...: wait up to --wait-timeout for P to exist while CMD
# (a liveness check) succeeds; false if P never appeared.
wait_path() {
	local p waited=0
	p=$(abs_path "$1")
	shift
	while [[ ! -e $p && $waited -lt $((wait_s * 10)) ]] && "$@" 2>/dev/null; do
		sleep 0.1
		waited=$((waited + 1))
	done
	[[ -e $p ]]
}

# daemons_alive: false once any daemon has exited.
daemons_alive() {
	local pid
	for pid in "${daemon_pids[@]}"; do
		[[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
	done
}

qemu_pid=''
cleanup() {
	local c
	if [[ -n $qemu_pid ]]; then
		kill -TERM "$qemu_pid" 2>/dev/null
		wait "$qemu_pid" 2>/dev/null
	fi
	stop_daemons
	for c in "${teardowns[@]}"; do
		run_cmd teardown "$c" || true
	done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

qemu_ver=$("$qemu" --version 2>/dev/null | head -n 1)

# ---- host side, before -----------------------------------------------------
setup_ok=1
for c in "${setups[@]}"; do
	run_cmd setup "$c" || { problems+=("setup failed: $c"); setup_ok=0; break; }
done
if [[ $setup_ok -eq 1 ]]; then
	for i in "${!daemons[@]}"; do
		echo "run-guest: daemon $i: ${daemons[$i]}"
		start_daemon "$i"
	done
	for p in "${waits[@]}"; do
		if ! wait_path "$p" daemons_alive; then
			problems+=("$(abs_path "$p") did not appear within $wait_s s (or a daemon died)")
			setup_ok=0
		fi
	done
fi

# ---- host actions ----------------------------------------------------------------
nactions=0
halog=$workdir/hostact.log

# restart_daemon N [SIGNAL]: the built-in daemon-restart action.
restart_daemon() {
	local i=${1:-} sig=${2:-KILL} pid rc waited=0
	if [[ ! $i =~ ^[0-9]+$ || -z ${daemons[$i]:-} ]]; then
		echo "daemon-restart: no daemon '$i'"
		return 2
	fi
	pid=${daemon_pids[$i]}
	if [[ -n $pid ]]; then
		kill -s "$sig" "$pid" 2>/dev/null || { echo "daemon-restart: bad signal '$sig'"; return 2; }
		while kill -0 "$pid" 2>/dev/null && [[ $waited -lt 100 ]]; do
			sleep 0.1
			waited=$((waited + 1))
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=$?
		echo "daemon-restart: daemon $i (pid $pid) got SIG$sig, exit status $rc"
	fi
	# A stale socket or flag file would make the new daemon look ready.
	local paths=() p
	mapfile -t paths < <(printf '%s' "${daemon_waits[$i]}")
	for p in "${paths[@]}"; do
		rm -f "$(abs_path "$p")"
	done
	echo "==== run-guest: daemon-restart (after SIG$sig) ====" >>"$workdir/daemon-$i.log"
	start_daemon "$i" append
	echo "daemon-restart: daemon $i started again (pid ${daemon_pids[$i]})"
	for p in "${paths[@]}"; do
		if ! wait_path "$p" kill -0 "${daemon_pids[$i]}"; then
			echo "daemon-restart: $(abs_path "$p") did not appear within $wait_s s (or the daemon died)"
			return 3
		fi
	done
	echo "daemon-restart: daemon $i ready"
}

# handle_action LINE: run one "VDEV-HOST: ACTION ARGS..." request, answer it.
handle_action() {
	local words=() act rc
	read -r -a words <<<"${1#*VDEV-HOST: }"
	act=${words[0]:-}
	nactions=$((nactions + 1))
	echo "run-guest: host action $nactions: ${words[*]}" | tee -a "$halog"
	if [[ ! $act =~ ^[A-Za-z0-9_.-]+$ ]]; then
		echo "    bad action name '$act'" | tee -a "$halog"
		rc=2
		act=invalid
	elif [[ $act == daemon-restart ]]; then
		# In this shell (not a pipeline's subshell): it updates daemon_pids.
		restart_daemon "${words[@]:1}" >"$workdir/hostact.out.tmp" 2>&1
		rc=$?
		sed 's/^/    /' "$workdir/hostact.out.tmp" | tee -a "$halog"
	else
		(close_ha; cd "$workdir" && exec timeout -k 5 "$action_s" bash "$actions" "${words[@]}") \
			2>&1 </dev/null | sed 's/^/    /' | tee -a "$halog"
		rc=${PIPESTATUS[0]}
	fi
	echo "run-guest: host action $nactions ($act) exited $rc" | tee -a "$halog"
	printf 'VDEV-ACK %s %d\n' "$act" "$rc" >&"$ha_in"
}

# serve_actions: until QEMU ends, read requests from the guest's ttyS1.
serve_actions() {
	local buf='' part line
	while kill -0 "$qemu_pid" 2>/dev/null; do
		part=''
		if IFS= read -r -t 1 part <&"$ha_out"; then
			line=${buf}${part}
			buf=''
			line=${line//$'\r'/}
			[[ $line != *VDEV-HOST:* ]] || handle_action "$line"
		elif [[ $? -gt 128 ]]; then
			buf+=$part      # a timeout keeps what came of a line so far
		else
			break
		fi
	done
}

if [[ -n $actions && $setup_ok -eq 1 ]]; then
	rm -f "$workdir/hostact.in" "$workdir/hostact.out"
	: >"$halog"
	mkfifo "$workdir/hostact.in" "$workdir/hostact.out"
	# Read-write opens of the FIFOs never block, and never see EOF.
	exec {ha_in}<>"$workdir/hostact.in" {ha_out}<>"$workdir/hostact.out"
	# QEMU reads hostact.in and writes hostact.out (relative: it runs in
	# $workdir). Any second serial port (-serial or -device isa-serial)
	# drops -nographic's default console, so it is named again first.
	qemu_args+=(-chardev pipe,id=vdevhost,path=hostact
		    -serial mon:stdio -serial chardev:vdevhost)
	append="$append vdev.host_actions=1"
fi

# ---- the guest ---------------------------------------------------------------
qemu_rc=-1
timed_out=0
if [[ $setup_ok -eq 1 ]]; then
	cmd=("$qemu" -accel tcg -cpu max -m "$mem" -smp 2 -nographic -no-reboot -net none
	     -kernel "$kernel" -initrd "$initrd"
	     -append "console=ttyS0 quiet panic=-1 $append" "${qemu_args[@]}")
	printf '%q ' "${cmd[@]}" >"$workdir/qemu.cmdline"
	echo >>"$workdir/qemu.cmdline"
	echo "run-guest: booting $name (timeout ${timeout_s}s): $(cat "$workdir/qemu.cmdline")"
	qt0=$SECONDS
	# -nographic puts the serial console (and the muxed monitor) on stdio.
	# In the background so that a signal to us (ctest's timeout, ^C)
	# reaches QEMU too: timeout(1) runs it in a process group of its own.
	(close_ha; cd "$workdir" && exec timeout -k 10 "$timeout_s" "${cmd[@]}") \
		</dev/null >"$log" 2>"$qerr" &
	qemu_pid=$!
	[[ -z $actions ]] || serve_actions
	wait "$qemu_pid"
	qemu_rc=$?
	qemu_pid=''
	qemu_time=$((SECONDS - qt0))
	if [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
		timed_out=1
		problems+=("TIMEOUT: QEMU still running after ${timeout_s}s (killed)")
	elif [[ $qemu_rc -ne 0 ]]; then
		problems+=("QEMU exited $qemu_rc")
	fi
fi

# ---- host side, after --------------------------------------------------------
stop_daemons
if [[ $setup_ok -eq 1 ]]; then
	for c in "${checks[@]}"; do
		run_cmd check "$c" || problems+=("check failed: $c")
	done
fi

# ---- verdict -----------------------------------------------------------------
# The console has CRs and SeaBIOS's escape sequences; kernel messages may
# share a line with ours, so the markers are matched anywhere in a line.
clean=$workdir/serial.clean.log
tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' >"$clean"
mapfile -t tests < <(grep -oE 'VDEV-TEST: (PASS|FAIL) .*' "$clean")
npass=$(printf '%s\n' "${tests[@]}" | grep -c '^VDEV-TEST: PASS ' || true)
nfail=$(printf '%s\n' "${tests[@]}" | grep -c '^VDEV-TEST: FAIL ' || true)
done_line=$(grep -oE 'VDEV-GUEST-DONE rc=[0-9]+' "$clean" | tail -n 1)
start_line=$(grep -oE 'VDEV-GUEST-START .*' "$clean" | head -n 1)
boot_s=$(sed -n 's/.*uptime=\([0-9.]*\).*/\1/p' <<<"$start_line")
kver=$(sed -n 's/.*kernel=\([^ ]*\).*/\1/p' <<<"$start_line")

if [[ $setup_ok -eq 1 && $timed_out -eq 0 ]]; then
	if [[ -z $done_line ]]; then
		problems+=("the guest never printed VDEV-GUEST-DONE")
	elif [[ $done_line != 'VDEV-GUEST-DONE rc=0' ]]; then
		problems+=("guest script ended with ${done_line#VDEV-GUEST-DONE }")
	fi
	[[ $npass -gt 0 ]] || problems+=("no VDEV-TEST: PASS line")
	[[ $nfail -eq 0 ]] || problems+=("$nfail VDEV-TEST: FAIL line(s)")
fi

echo
echo "==================== guest test $name ===================="
for t in "${tests[@]}"; do
	echo "  $t"
done
[[ ${#tests[@]} -gt 0 ]] || echo "  (no VDEV-TEST lines)"
echo "  kernel:   ${kver:-unknown}"
echo "  qemu:     ${qemu_ver:-unknown}"
echo "  boot:     test script started at guest uptime ${boot_s:-?} s"
echo "  wall:     QEMU ${qemu_time:-0} s, total $((SECONDS - t0)) s"
[[ -z $actions ]] || echo "  actions:  $nactions host action(s) (log: $halog)"
echo "  logs:     $workdir (serial.log, qemu.stderr, qemu.cmdline)"
if [[ ${#problems[@]} -eq 0 ]]; then
	echo "RESULT: PASS ($npass passed)"
	exit 0
fi
for p in "${problems[@]}"; do
	echo "  problem:  $p"
done
echo "---- last 50 console lines ----"
tail -n 50 "$clean"
if [[ -s $qerr ]]; then
	echo "---- QEMU stderr ----"
	tail -n 20 "$qerr"
fi
echo "RESULT: FAIL ($npass passed, $nfail failed)"
exit 1
