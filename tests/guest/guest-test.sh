#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# One Linux guest test, end to end (what ctest runs; see vdev_guest_test()
# in tests/guest/CMakeLists.txt): fetch the kernel and busybox
# (fetch-kernel.sh), build the test's initramfs (mkinitramfs.sh), boot it
# and judge the console (run-guest.sh).
#
# Usage: guest-test.sh --name NAME --workdir DIR [options] [-- QEMU_ARGS...]
#   initramfs:  --module NAME, --script FILE, --bin PATH[=DEST],
#               --file SRC=DEST, --env NAME=VALUE      (see mkinitramfs.sh)
#   boot/host:  --setup CMD, --daemon CMD, --wait-for PATH, --check CMD,
#               --teardown CMD, --timeout S, --mem MIB, --append TEXT,
#               --actions FILE, --action-timeout S    (see run-guest.sh)
#   --qemu PATH|forky   the QEMU to boot; "forky": Debian forky's QEMU from
#                       scripts/qemu-forky.sh (cached; skipped, exit 77,
#                       when it cannot be had)
# Environment: VDEV_GUEST_CACHE (download cache), VDEV_GUEST_OFFLINE, VDEV_GUEST_TIMEOUT,
# VDEV_QEMU.
# Exit: 0 pass, 1 fail, 77 skipped (kernel/busybox unobtainable, no QEMU).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
name='' workdir=''
mk_args=() run_args=() qemu_args=()

die() { echo "guest-test: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case $1 in
	--name) [[ $# -ge 2 ]] || die "$1 needs a value"; name=$2; shift ;;
	--workdir) [[ $# -ge 2 ]] || die "$1 needs a value"; workdir=$2; shift ;;
	--module|--script|--bin|--file|--env)
		[[ $# -ge 2 ]] || die "$1 needs a value"; mk_args+=("$1" "$2"); shift ;;
	--setup|--daemon|--wait-for|--wait-timeout|--check|--teardown|--timeout|--mem|--append|\
	--actions|--action-timeout|--qemu)
		[[ $# -ge 2 ]] || die "$1 needs a value"; run_args+=("$1" "$2"); shift ;;
	--) shift; qemu_args=("$@"); break ;;
	-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"
		exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ -n $name && -n $workdir ]] || die "--name and --workdir are required"
mkdir -p "$workdir"

skip() {
	echo "=================================================================="
	echo "SKIPPED: guest test $name: $*"
	echo "=================================================================="
	exit 77
}

rc=0
env_out=$(bash "$here/fetch-kernel.sh") || rc=$?
[[ $rc -ne 77 ]] || skip "no Debian kernel/busybox (apt-get download failed, nothing cached)"
[[ $rc -eq 0 ]] || { echo "guest-test: fetch-kernel.sh failed ($rc)" >&2; exit 1; }
while IFS='=' read -r k v; do
	case $k in
	VDEV_GUEST_KVER|VDEV_GUEST_KERNEL|VDEV_GUEST_MODROOT|VDEV_GUEST_BUSYBOX)
		printf -v "$k" '%s' "$v" ;;
	esac
done <<<"$env_out"

# --qemu forky: a newer QEMU than the distribution's (e.g. vhost-user-scsi
# reconnect needs QEMU 8.2; Debian 12 has 7.2).
for i in "${!run_args[@]}"; do
	[[ ${run_args[$i]} == --qemu && ${run_args[$((i + 1))]} == forky ]] || continue
	rc=0
	q=$(bash "$here/../../scripts/qemu-forky.sh") || rc=$?
	[[ $rc -ne 77 ]] || skip "no QEMU from Debian forky (scripts/qemu-forky.sh could not fetch it)"
	[[ $rc -eq 0 ]] || { echo "guest-test: scripts/qemu-forky.sh failed ($rc)" >&2; exit 1; }
	run_args[$((i + 1))]=$(tail -n 1 <<<"$q")
done

bash "$here/mkinitramfs.sh" -o "$workdir/initramfs.cpio.gz" --busybox "$VDEV_GUEST_BUSYBOX" \
	--modroot "$VDEV_GUEST_MODROOT" --kver "$VDEV_GUEST_KVER" "${mk_args[@]}"

exec bash "$here/run-guest.sh" --name "$name" --workdir "$workdir" --kernel "$VDEV_GUEST_KERNEL" \
	--initrd "$workdir/initramfs.cpio.gz" "${run_args[@]}" -- "${qemu_args[@]}"
