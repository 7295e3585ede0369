#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Guest-side SCSI helpers for the Linux guest tests (busybox ash; sourced by a
# test script: install it with FILES .../lib_scsi.sh=/lib/lib_scsi.sh, then
# `. /lib/lib_scsi.sh`). Every helper returns 0 on success and prints one
# line saying why on failure; the t_* functions turn results into the
# harness's "VDEV-TEST: PASS/FAIL" lines and count failures in T_FAILS.
#
# Devices are named by their SCSI address: target T, LUN L on the one SCSI
# host the test cares about ($SCSI_HOST, default: any host; set it when
# the guest has several controllers). sysfs layout used (Linux 6.1):
#   /sys/class/scsi_device/H:C:T:L/device/{vendor,model,rev,type,block/X,scsi_generic/sgN}
#   /sys/block/X/size (512-byte units), /sys/block/X/queue/logical_block_size
# The checks also ask the LUN itself with sg3_utils (sg_readcap, sg_inq,
# sg_vpd) when they are in the guest and $SCSI_NO_SG3 is empty.

T_FAILS=0

t_pass() { echo "VDEV-TEST: PASS $1"; }

# t_fail NAME WHY...
t_fail() {
	_n=$1
	shift
	echo "VDEV-TEST: FAIL $_n: $*"
	T_FAILS=$((T_FAILS + 1))
}

# t_check NAME CMD [ARGS...]: PASS if CMD succeeds (its output, e.g.
# VDEV-DATA lines, printed first), else FAIL with its output.
t_check() {
	_n=$1
	shift
	if _out=$("$@" 2>&1); then
		[ -z "$_out" ] || echo "$_out"
		t_pass "$_n"
	else
		t_fail "$_n" "$(echo "$_out" | tail -n 3 | tr '\n' ' ')"
	fi
}

# ---- finding devices -----------------------------------------------------------

# scsi_hctl_glob T L: the sysfs glob of a LUN's scsi_device directory.
scsi_hctl_glob() { echo "/sys/class/scsi_device/${SCSI_HOST:-*}:*:$1:$2"; }

# scsi_sysdir T L: the LUN's scsi_device directory (nothing if absent).
scsi_sysdir() {
	for _d in $(scsi_hctl_glob "$1" "$2"); do
		[ -d "$_d/device" ] && echo "$_d" && return 0
	done
	return 1
}

# scsi_dev T L [block|generic]: the LUN's block device (sdX/srN) or sg node
# name (no /dev/), nothing if it has none (yet).
scsi_dev() {
	_sd=$(scsi_sysdir "$1" "$2") || return 1
	case ${3:-block} in
	block) _sub=block ;;
	*) _sub=scsi_generic ;;
	esac
	for _x in "$_sd/device/$_sub"/*; do
		[ -e "$_x" ] && echo "${_x##*/}" && return 0
	done
	return 1
}

# scsi_count [VENDOR]: LUNs seen (on $SCSI_HOST), optionally with that vendor.
scsi_count() {
	_c=0
	for _d in /sys/class/scsi_device/${SCSI_HOST:-*}:*; do
		[ -r "$_d/device/vendor" ] || continue
		if [ -n "${1:-}" ]; then
			read -r _v <"$_d/device/vendor"
			[ "$_v" = "$1" ] || continue
		fi
		_c=$((_c + 1))
	done
	echo $_c
}

# _wait SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
_wait() {
	_tries=$(($1 * 5))
	shift
	while ! "$@"; do
		_tries=$((_tries - 1))
		[ $_tries -gt 0 ] || return 1
		sleep 0.2
	done
}

_count_ge() { [ "$(scsi_count "$2")" -ge "$1" ]; }
# _has_nodes T L: the LUN has both a block device and an sg node.
_has_nodes() { scsi_dev "$1" "$2" block >/dev/null && scsi_dev "$1" "$2" generic >/dev/null; }
_gone() { ! scsi_sysdir "$1" "$2" >/dev/null; }

# scsi_wait_count N SECONDS [VENDOR]: wait until at least N LUNs are seen.
scsi_wait_count() {
	_wait "$2" _count_ge "$1" "${3:-}" && return 0
	echo "only $(scsi_count "${3:-}") of $1 LUNs after $2 s"
	return 1
}

# scsi_wait_present T L SECONDS: wait until the LUN has its block and sg nodes
# (a hot-plugged LUN: the event queue made the kernel scan it).
scsi_wait_present() {
	_wait "$3" _has_nodes "$1" "$2" && return 0
	echo "LUN $1.$2 not seen (with block and sg nodes) after $3 s"
	return 1
}

# scsi_wait_gone T L SECONDS: wait until the LUN is gone from sysfs.
scsi_wait_gone() {
	_wait "$3" _gone "$1" "$2" && return 0
	echo "LUN $1.$2 still present after $3 s"
	return 1
}

# ---- what a LUN says about itself ------------------------------------------------

# scsi_check_disk T L BYTES BLOCK_SIZE: size and logical block size, from
# the block layer (sysfs) and from READ CAPACITY (sg_readcap) if present.
scsi_check_disk() {
	_blk=$(scsi_dev "$1" "$2" block) || { echo "LUN $1.$2: no block device"; return 1; }
	read -r _sect <"/sys/block/$_blk/size"
	read -r _lbs <"/sys/block/$_blk/queue/logical_block_size"
	if [ $((_sect * 512)) -ne "$3" ] || [ "$_lbs" -ne "$4" ]; then
		echo "LUN $1.$2 ($_blk): $((_sect * 512)) bytes, $_lbs-byte blocks; want $3, $4"
		return 1
	fi
	[ -z "${SCSI_NO_SG3:-}" ] && command -v sg_readcap >/dev/null 2>&1 || return 0
	_sg=$(scsi_dev "$1" "$2" generic) || { echo "LUN $1.$2: no sg node"; return 1; }
	_rc=$(sg_readcap -l "/dev/$_sg" 2>&1)
	# "Device size: 67108864 bytes, ..." and "Logical block length=4096 bytes"
	if ! echo "$_rc" | grep -q "Logical block length=$4 bytes" ||
	   ! echo "$_rc" | grep -q "Device size: $3 bytes"; then
		echo "LUN $1.$2 ($_sg): sg_readcap says: $(echo "$_rc" | tr '\n' ' ')"
		return 1
	fi
}

# scsi_check_inquiry T L VENDOR PRODUCT [SERIAL]: standard INQUIRY strings
# (sysfs, as the kernel read them at scan time, and sg_inq now) and the
# Unit Serial Number VPD page (80h, sg_vpd) when SERIAL is given.
scsi_check_inquiry() {
	_sd=$(scsi_sysdir "$1" "$2") || { echo "LUN $1.$2: absent"; return 1; }
	read -r _v <"$_sd/device/vendor"
	read -r _m <"$_sd/device/model"
	if [ "$_v" != "$3" ] || [ "$_m" != "$4" ]; then
		echo "LUN $1.$2: sysfs vendor '$_v' model '$_m'; want '$3' '$4'"
		return 1
	fi
	[ -z "${SCSI_NO_SG3:-}" ] && command -v sg_inq >/dev/null 2>&1 || return 0
	_sg=$(scsi_dev "$1" "$2" generic) || { echo "LUN $1.$2: no sg node"; return 1; }
	_o=$(sg_inq "/dev/$_sg" 2>&1)
	if ! echo "$_o" | grep -q "Vendor identification: $3" ||
	   ! echo "$_o" | grep -q "Product identification: $4"; then
		echo "LUN $1.$2 ($_sg): sg_inq: $(echo "$_o" | grep identification | tr '\n' ' ')"
		return 1
	fi
	[ -n "${5:-}" ] || return 0
	command -v sg_vpd >/dev/null 2>&1 || return 0
	_o=$(sg_vpd -p sn "/dev/$_sg" 2>&1)
	if ! echo "$_o" | grep -q "Unit serial number: $5\$"; then
		echo "LUN $1.$2 ($_sg): sg_vpd -p sn: $(echo "$_o" | tr '\n' ' '); want '$5'"
		return 1
	fi
}

# ---- data -----------------------------------------------------------------------

_drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# scsi_write_verify DEV MIB [SEEK_MIB [LABEL]]: write MIB MiB of random data
# at SEEK_MIB MiB of /dev/DEV, read it back (page cache), again after
# sync + drop_caches, and once more with O_DIRECT; all must match. Prints
# "VDEV-DATA: LABEL OFFSET LENGTH MD5" for a host-side check of the backing
# file (LABEL defaults to DEV). SCSI_MD5 gets the checksum.
scsi_write_verify() {
	_dev=/dev/$1
	_mib=$2
	_seek=${3:-0}
	_tmp=/tmp/wv.$$
	[ -b "$_dev" ] || { echo "$_dev: not a block device"; return 1; }
	dd if=/dev/urandom of=$_tmp bs=1M count="$_mib" 2>/dev/null || { echo "urandom"; return 1; }
	SCSI_MD5=$(md5sum <$_tmp | cut -d' ' -f1)
	if ! dd if=$_tmp of="$_dev" bs=1M seek="$_seek" conv=fsync,notrunc 2>/tmp/wv.err; then
		echo "write to $_dev failed: $(cat /tmp/wv.err)"
		rm -f $_tmp
		return 1
	fi
	rm -f $_tmp
	_a=$(dd if="$_dev" bs=1M skip="$_seek" count="$_mib" 2>/dev/null | md5sum | cut -d' ' -f1)
	_drop_caches
	_b=$(dd if="$_dev" bs=1M skip="$_seek" count="$_mib" 2>/dev/null | md5sum | cut -d' ' -f1)
	_c=$(dd if="$_dev" bs=1M skip="$_seek" count="$_mib" iflag=direct 2>/dev/null |
	     md5sum | cut -d' ' -f1)
	if [ "$_a" != "$SCSI_MD5" ] || [ "$_b" != "$SCSI_MD5" ] || [ "$_c" != "$SCSI_MD5" ]; then
		echo "$_dev: wrote $SCSI_MD5, read $_a (cached), $_b (after drop_caches), $_c (direct)"
		return 1
	fi
	echo "VDEV-DATA: ${4:-$1} $((_seek * 1048576)) $((_mib * 1048576)) $SCSI_MD5"
}

# scsi_md5 DEV OFFSET_MIB LENGTH_MIB: checksum of a range of /dev/DEV (O_DIRECT).
scsi_md5() {
	dd if="/dev/$1" bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}

# ---- CD-ROM -------------------------------------------------------------------------

# scsi_cd_check DEV FILE MD5 [MOUNTPOINT]: mount /dev/DEV (ISO 9660, read
# only), check FILE's checksum, unmount. sr re-reads the medium on open, so
# a media change shows after a re-mount. A freshly changed medium may
# still report its unit attention: the mount is retried for up to 10 s.
scsi_cd_check() {
	_mnt=${4:-/mnt/cd}
	mkdir -p "$_mnt"
	_tries=50
	while ! mount -t iso9660 -o ro "/dev/$1" "$_mnt" 2>/tmp/cd.err; do
		_tries=$((_tries - 1))
		[ $_tries -gt 0 ] || { echo "mount /dev/$1: $(cat /tmp/cd.err)"; return 1; }
		sleep 0.2
	done
	_got=$(md5sum <"$_mnt/$2" 2>&1 | cut -d' ' -f1)
	umount "$_mnt"
	if [ "$_got" != "$3" ]; then
		echo "/dev/$1: $2 has md5 '$_got', want $3"
		return 1
	fi
}

# ---- queues --------------------------------------------------------------------------

# scsi_queue_irqs PATTERN: the interrupt counts (all CPUs summed) of each
# /proc/interrupts line matching PATTERN (e.g. "virtio0-request"), one per
# line in order: with MSI-X each virtio-scsi request queue has its own vector.
scsi_queue_irqs() {
	grep -- "$1" /proc/interrupts | awk -v n="$(nproc)" '{
		s = 0
		for (i = 2; i <= n + 1; i++) s += $i
		print s
	}'
}
