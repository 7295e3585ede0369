#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Self-test of run-guest.sh's verdict and host-side plumbing, with a fake
# QEMU that prints a canned console (no kernel, no TCG: runs in a second).
# Each case states the exit code run-guest.sh must give. ctest: guest_harness.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vdev-guest-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/kernel"
: >"$tmp/initrd"

# The fake QEMU: prints $FAKE_CONSOLE (with CRs and an escape sequence
# like the real one), then sleeps $FAKE_SLEEP seconds and exits $FAKE_RC.
# With $FAKE_ACTIONS ("req args;req args;..."; "SPLIT:text" sends a request
# in two writes 1.5 s apart, the second being "lit"), it plays a guest's
# host_action first: each request goes to the host-action chardev's FIFO
# PATH.out, the answer from PATH.in is printed as "ACK: <line>".
cat >"$tmp/qemu" <<'EOF'
#!/usr/bin/env bash
[[ ${1:-} == --version ]] && { echo "QEMU emulator version 0.0 (fake)"; exit 0; }
printf '\033c\033[?7lSeaBIOS (fake)\r\n'
ha=''
for a in "$@"; do
	[[ $a == pipe,id=vdevhost,path=* ]] && ha=${a#*path=}
	[[ $a == *vdev.host_actions=1* ]] && printf 'CMDLINE-FLAG\r\n'
done
if [[ -n ${FAKE_ACTIONS:-} ]]; then
	[[ -n $ha ]] || { echo "fake qemu: no host-action chardev" >&2; exit 1; }
	exec 3>"$ha.out" 4<"$ha.in"
	IFS=';' read -ra reqs <<<"$FAKE_ACTIONS"
	for r in "${reqs[@]}"; do
		if [[ $r == SPLIT:* ]]; then
			printf 'VDEV-HOST: %s' "${r#SPLIT:}" >&3
			sleep 1.5
			printf 'lit\n' >&3
		else
			printf 'VDEV-HOST: %s\n' "$r" >&3
		fi
		read -r -t 30 ack <&4 && printf 'ACK: %s\r\n' "$ack"
	done
fi
printf '%b' "$FAKE_CONSOLE" | sed 's/$/\r/'
sleep "${FAKE_SLEEP:-0}"
exit "${FAKE_RC:-0}"
EOF
chmod +x "$tmp/qemu"

fails=0
n=0
# expect RC NAME CONSOLE [run-guest args...]
expect() {
	local want=$1 name=$2 console=$3 rc
	shift 3
	n=$((n + 1))
	FAKE_CONSOLE=$console bash "$here/run-guest.sh" --qemu "$tmp/qemu" --kernel "$tmp/kernel" \
		--initrd "$tmp/initrd" --workdir "$tmp/w$n" --name "$name" "$@" \
		>"$tmp/out$n" 2>&1
	rc=$?
	if [[ $rc -eq $want ]]; then
		echo "ok   $name (exit $rc)"
	else
		echo "FAIL $name: exit $rc, expected $want"
		sed 's/^/     | /' "$tmp/out$n"
		fails=$((fails + 1))
	fi
}

good='VDEV-GUEST-START uptime=1.00 kernel=6.1.0-fake\nVDEV-TEST: PASS a\n'
good+='VDEV-TEST: PASS b\nVDEV-GUEST-DONE rc=0 uptime=2.00\n'

expect 0 pass "$good"
expect 0 pass-mixed-with-kernel-message \
	'VDEV-GUEST-START uptime=1 kernel=x\n[ 1.0] sd 0:0:0:0: x VDEV-TEST: PASS a\n'\
'VDEV-GUEST-DONE rc=0\n'
expect 1 one-fail \
	'VDEV-TEST: PASS a\nVDEV-TEST: FAIL b: broken\nVDEV-GUEST-DONE rc=0\n'
expect 1 no-pass 'VDEV-GUEST-START uptime=1 kernel=x\nVDEV-GUEST-DONE rc=0\n'
expect 1 no-done 'VDEV-TEST: PASS a\n'
expect 1 done-rc-1 'VDEV-TEST: PASS a\nVDEV-GUEST-DONE rc=1\n'
expect 1 done-rc-10 'VDEV-TEST: PASS a\nVDEV-GUEST-DONE rc=10\n'
expect 1 kernel-panic 'VDEV-TEST: PASS a\nKernel panic - not syncing: Attempted to kill init!\n'
FAKE_RC=1 expect 1 qemu-error "$good"
FAKE_SLEEP=30 expect 1 timeout "$good" --timeout 2
expect 1 setup-fails "$good" --setup 'exit 3'
expect 0 setup-and-check "$good" --setup 'echo hi >"$VDEV_GUEST_WORKDIR/f"' \
	--check 'grep -q hi f && grep -q "PASS a" "$VDEV_GUEST_LOG"'
expect 1 check-fails "$good" --check 'false'
# A daemon that creates its socket stand-in, is still up when QEMU ends
# and leaves on SIGTERM: fine; the check sees what it wrote.
expect 0 daemon "$good" \
	--daemon "bash -c 'trap \"echo bye >d.out; exit 0\" TERM; touch d.sock
		while :; do sleep 0.1; done'" \
	--wait-for d.sock --check 'grep -q bye d.out'
expect 1 daemon-dies "$good" --daemon "bash -c 'exit 5'"
expect 1 wait-for-never "$good" --daemon 'sleep 60' --wait-for "$tmp/never" \
	--wait-timeout 1
# A daemon that dies before its socket appears: no 30 s wait for it.
t=$SECONDS
expect 1 daemon-dies-before-socket "$good" --daemon "bash -c 'exit 1'" --wait-for d.sock
if [[ $((SECONDS - t)) -gt 10 ]]; then
	echo "FAIL daemon-dies-before-socket: waited $((SECONDS - t)) s for a dead daemon"
	fails=$((fails + 1))
fi
expect 0 teardown-runs "$good" --teardown "touch $tmp/torn"
if [[ ! -e $tmp/torn ]]; then
	echo "FAIL teardown-runs: the teardown command did not run"
	fails=$((fails + 1))
fi
# Host actions: requests reach the handler script with their arguments, in
# the work directory; the guest gets each handler's exit status back.
cat >"$tmp/actions.sh" <<'EOF'
case $1 in
echo-args) shift; echo "$*" >>args.out; echo "handler ran in $PWD" ;;
fail-with) exit "$2" ;;
hang) sleep 30 ;;
*) echo "unknown action $1" >&2; exit 127 ;;
esac
EOF
FAKE_ACTIONS='echo-args a  b;fail-with 3;no-such;SPLIT:echo-args sp;bad$name x' \
	expect 0 host-actions "$good" --actions "$tmp/actions.sh" --check 'grep -q CMDLINE-FLAG "$VDEV_GUEST_LOG"' \
	--check 'printf "a b\nsplit\n" | cmp - args.out' \
	--check 'grep -q "ACK: VDEV-ACK echo-args 0" "$VDEV_GUEST_LOG"' \
	--check 'grep -q "ACK: VDEV-ACK fail-with 3" "$VDEV_GUEST_LOG"' \
	--check 'grep -q "ACK: VDEV-ACK no-such 127" "$VDEV_GUEST_LOG"' \
	--check 'grep -q "ACK: VDEV-ACK invalid 2" "$VDEV_GUEST_LOG"' \
	--check '[ $(grep -c "^ACK: " "$VDEV_GUEST_LOG") -eq 5 ]' \
	--check 'grep -q "unknown action no-such" hostact.log'
if ! grep -q '5 host action(s)' "$tmp/out$n"; then
	echo "FAIL host-actions report: no action count"; fails=$((fails + 1))
fi
# A handler over its time limit: the guest hears 124, the run goes on.
FAKE_ACTIONS='hang' expect 0 host-action-timeout "$good" --actions "$tmp/actions.sh" \
	--action-timeout 1 --check 'grep -q "ACK: VDEV-ACK hang 124" "$VDEV_GUEST_LOG"'
# Without --actions: no chardev, no kernel flag (the fake QEMU fails on
# FAKE_ACTIONS without a chardev).
FAKE_ACTIONS='echo-args x' expect 1 no-actions-no-channel "$good"
expect 0 no-actions-no-flag "$good" --check '! grep -q CMDLINE-FLAG "$VDEV_GUEST_LOG"'
# daemon-restart (built in): the daemon dies of SIGKILL (no problem: asked
# for), its command starts again, appends to its log, stops on SIGTERM at
# the end as usual.
FAKE_ACTIONS='daemon-restart 0;daemon-restart 0 TERM;daemon-restart 7' \
	expect 0 daemon-restart "$good" --actions "$tmp/actions.sh" \
	--daemon "bash -c 'echo start \$\$ >>starts; trap \"exit 0\" TERM; touch d.sock
		while :; do sleep 0.1; done'" --wait-for d.sock \
	--check '[ $(wc -l <starts) -eq 3 ]' \
	--check '[ $(sort -u starts | wc -l) -eq 3 ]' \
	--check 'grep -q "ACK: VDEV-ACK daemon-restart 0" "$VDEV_GUEST_LOG"' \
	--check 'grep -q "ACK: VDEV-ACK daemon-restart 2" "$VDEV_GUEST_LOG"' \
	--check '[ $(grep -c "daemon-restart (after SIG" daemon-0.log) -eq 2 ]' \
	--check '[ $(grep -c "daemon 0 ready" hostact.log) -eq 2 ]'
# A restart ends only once the daemon is ready: its --wait-for path is
# removed and must appear again; one that never does fails the action
# (rc 3), which the guest sees.
FAKE_ACTIONS='daemon-restart 0' expect 0 daemon-restart-not-ready "$good" \
	--actions "$tmp/actions.sh" --wait-timeout 1 \
	--daemon "bash -c 'trap \"exit 0\" TERM; [ -e once ] || touch once d.sock
		while :; do sleep 0.1; done'" --wait-for d.sock \
	--check 'grep -q "ACK: VDEV-ACK daemon-restart 3" "$VDEV_GUEST_LOG"' \
	--check 'grep -q "d.sock did not appear" hostact.log'
# ... but a restarted daemon that then fails still fails the run.
FAKE_ACTIONS='daemon-restart 0' expect 1 daemon-restart-then-dies "$good" \
	--actions "$tmp/actions.sh" --daemon "bash -c '[ -e once ] && exit 4; touch once d.sock
		while :; do sleep 0.1; done'" --wait-for d.sock

# The report names every test line and the boot time.
if ! grep -q 'VDEV-TEST: PASS b' "$tmp/out1" || ! grep -q 'uptime 1.00 s' "$tmp/out1"; then
	echo "FAIL report: test lines or boot time missing"; sed 's/^/     | /' "$tmp/out1"
	fails=$((fails + 1))
fi
if ! grep -q 'last 50 console lines' "$tmp/out3"; then
	echo "FAIL report: no console tail on failure"; fails=$((fails + 1))
fi

echo "$((n - fails)) passed, $fails failed"
[[ $fails -eq 0 ]]
