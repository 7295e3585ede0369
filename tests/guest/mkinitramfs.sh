#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build a gzip'd newc cpio initramfs for a Linux guest test: a static busybox
# with all its applet links (/sbin/modprobe among them: the kernel runs it to
# load helper modules on demand), the kernel modules the test names plus
# everything they depend on (modules.dep) or soft-depend on (softdep=), with
# a modules.dep of their own (busybox depmod -b on the staged tree), host programs
# with the shared libraries and dynamic loader they need (from ldd; static
# programs are copied as they are), data files, and an /init that:
#
#   mounts /proc, /sys, /dev (devtmpfs), /tmp, /run; loads the modules in the
#   order given (a module that fails to load prints
#   "VDEV-TEST: FAIL modprobe:<name>: ..." and makes the run fail); prints
#   "VDEV-GUEST-START uptime=<s> kernel=<release>"; runs /test.sh (with
#   VDEV_GUEST=1, PATH starting at /usr/local/bin); prints
#   "VDEV-GUEST-DONE rc=<n>" and powers off (poweroff -f).
#
# It also installs /lib/vdev.sh, helpers a test script may source
# (`. /lib/vdev.sh`): host_action ACTION ARGS... asks the host harness to
# run a host action and returns its exit status (run-guest.sh --actions).
#
# Modules that the kernel has built in (modules.builtin) are skipped with a
# note; a name may also be an alias (e.g. crypto-crc32c). Debian 12 ships
# plain .ko files; .ko.xz/.ko.zst/.ko.gz are unpacked when staged so that
# busybox modprobe never has to read a compressed module.
#
# Usage: mkinitramfs.sh -o OUT --busybox PATH [options]
#   -o, --output FILE     the initramfs to write (.cpio.gz)
#   --busybox PATH        a static busybox binary
#   --modroot DIR         a tree with lib/modules/<kver>/ and its modules.dep
#   --kver VERSION        the kernel release under lib/modules
#   --module NAME         load NAME at boot (repeatable; order kept)
#   --script FILE         the test script, installed as /test.sh
#   --bin PATH[=DEST]     a host program (default DEST /usr/local/bin/<name>)
#   --file SRC=DEST       a data file (DEST absolute, in the guest)
#   --env NAME=VALUE      exported to /test.sh (repeatable)
set -euo pipefail

out='' busybox='' modroot='' kver='' script=''
modules=() bins=() files=() envs=()

die() { echo "mkinitramfs: $*" >&2; exit 1; }
need() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"; }

while [[ $# -gt 0 ]]; do
	case $1 in
	-o|--output) need "$@"; out=$2; shift ;;
	--busybox) need "$@"; busybox=$2; shift ;;
	--modroot) need "$@"; modroot=$2; shift ;;
	--kver) need "$@"; kver=$2; shift ;;
	--module) need "$@"; modules+=("$2"); shift ;;
	--script) need "$@"; script=$2; shift ;;
	--bin) need "$@"; bins+=("$2"); shift ;;
	--file) need "$@"; [[ $2 == *=/* ]] || die "--file wants SRC=/DEST, got '$2'"
		files+=("$2"); shift ;;
	--env) need "$@"; [[ $2 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env wants NAME=VALUE"
		envs+=("$2"); shift ;;
	-h|--help) awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"
		exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ -n $out ]] || die "no --output"
[[ -x $busybox ]] || die "no usable --busybox ('$busybox')"
if [[ ${#modules[@]} -gt 0 ]]; then
	[[ -n $modroot && -n $kver ]] || die "--module needs --modroot and --kver"
	[[ -s $modroot/lib/modules/$kver/modules.dep ]] ||
		die "$modroot/lib/modules/$kver/modules.dep missing (run fetch-kernel.sh)"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/vdev-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# ---- busybox and its applets ----------------------------------------------
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,proc,sys,dev,tmp,run,etc,root}
cp "$busybox" "$stage/bin/busybox"
chmod 755 "$stage/bin/busybox"
while read -r applet; do
	[[ -n $applet && $applet != bin/busybox ]] || continue
	mkdir -p "$stage/$(dirname "$applet")"
	ln -sf /bin/busybox "$stage/$applet"
done < <("$busybox" --list-full)
[[ -L $stage/sbin/modprobe ]] || die "this busybox has no modprobe applet"
# Without /dev/console the kernel starts /init with no stdio; /init
# redirects to the devtmpfs console anyway, the node just makes early
# errors visible. Creating it needs root; fine to skip otherwise.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

# ---- kernel modules ---------------------------------------------------------
declare -A mod_path=() mod_deps=() alias_of=() builtin=() want=()
load=()

# Module names treat - and _ alike.
norm() { local n=${1//-/_}; echo "${n%%.ko*}"; }

if [[ ${#modules[@]} -gt 0 ]]; then
	mdir=$modroot/lib/modules/$kver
	# Parsed with parameter expansions only: a fork per line of
	# modules.alias (26000 lines) would cost seconds.
	while IFS= read -r line; do
		path=${line%%:*}
		name=${path##*/}
		name=${name%%.ko*}
		name=${name//-/_}
		mod_path[$name]=$path
		mod_deps[$name]=${line#*:}
	done <"$mdir/modules.dep"
	# Exact aliases only (softdeps and request_module names are exact).
	if [[ -f $mdir/modules.alias ]]; then
		while read -r _ a m; do
			alias_of[${a//-/_}]+=" ${m//-/_}"
		done < <(grep -E '^alias [^*?[]+ ' "$mdir/modules.alias")
	fi
	if [[ -f $mdir/modules.builtin ]]; then
		while IFS= read -r path; do
			name=${path##*/}
			name=${name%%.ko*}
			builtin[${name//-/_}]=1
		done <"$mdir/modules.builtin"
	fi

	# resolve NAME: module names NAME stands for (itself or via alias).
	resolve() {
		local n
		n=$(norm "$1")
		if [[ -n ${mod_path[$n]:-} ]]; then
			echo "$n"
		elif [[ -n ${alias_of[$n]:-} ]]; then
			echo ${alias_of[$n]}
		fi
	}

	# ko_cat FILE: a module file, uncompressed.
	ko_cat() {
		case $1 in
		*.ko.xz) xz -dc "$1" ;;
		*.ko.zst) zstd -qdc "$1" ;;
		*.ko.gz) gzip -dc "$1" ;;
		*) cat "$1" ;;
		esac
	}

	# add NAME: stage NAME, its dependencies and soft dependencies.
	add() {
		local n=$1 dep d path ko soft
		[[ -z ${want[$n]:-} ]] || return 0
		want[$n]=1
		path=${mod_path[$n]}
		for dep in ${mod_deps[$n]}; do
			add "$(norm "$(basename "$dep")")"
		done
		ko=$mdir/$path
		# softdep=pre: a b post: c  (NUL-separated .modinfo strings)
		soft=$(ko_cat "$ko" | tr '\0' '\n' | sed -n 's/^softdep=//p' | tr '\n' ' ')
		for d in $soft; do
			[[ $d == pre: || $d == post: ]] && continue
			for dep in $(resolve "$d"); do
				add "$dep"
			done
		done
	}

	for m in "${modules[@]}"; do
		n=$(norm "$m")
		if [[ -n ${builtin[$n]:-} ]]; then
			echo "mkinitramfs: $m is built into $kver; not loading it" >&2
			continue
		fi
		r=$(resolve "$m")
		[[ -n $r ]] || die "no module or alias '$m' in $kver"
		for x in $r; do
			add "$x"
		done
		load+=("$m")
	done

	smdir=$stage/lib/modules/$kver
	mkdir -p "$smdir"
	for n in "${!want[@]}"; do
		path=${mod_path[$n]}
		dst=$smdir/${path%.ko*}.ko
		mkdir -p "$(dirname "$dst")"
		ko_cat "$mdir/$path" >"$dst"
	done
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		[[ -f $mdir/$f ]] && cp "$mdir/$f" "$smdir/"
	done
	# busybox's depmod: the files match what busybox's modprobe reads in
	# the guest, and the host needs no kmod.
	"$busybox" depmod -b "$stage" "$kver"
	echo "mkinitramfs: ${#want[@]} module(s) staged for: ${load[*]:-none}" >&2
fi

# ---- host programs with their libraries --------------------------------------
# copy_file SRC DEST: copy following symlinks, keeping the mode.
copy_file() {
	mkdir -p "$stage/$(dirname "$2")"
	cp -L "$1" "$stage/$2"
}

for b in "${bins[@]}"; do
	src=${b%%=*}
	dst=/usr/local/bin/$(basename "$src")
	[[ $b == *=* ]] && dst=${b#*=}
	[[ -f $src && -x $src ]] || die "--bin $src: not an executable file"
	copy_file "$src" "$dst"
	# ldd lists "name => /path (addr)" and "/lib64/ld-linux... (addr)"; a
	# static program has no absolute paths in its output.
	while read -r lib; do
		[[ -e $stage/$lib ]] || copy_file "$lib" "$lib"
	done < <(ldd "$src" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
done

for f in "${files[@]}"; do
	[[ -f ${f%%=*} ]] || die "--file ${f%%=*}: no such file"
	copy_file "${f%%=*}" "${f#*=}"
done

if [[ -n $script ]]; then
	[[ -f $script ]] || die "--script $script: no such file"
	cp "$script" "$stage/test.sh"
else
	printf '#!/bin/sh\necho "VDEV-TEST: FAIL harness: no test script"\nexit 1\n' >"$stage/test.sh"
fi
chmod 755 "$stage/test.sh"

# ---- /lib/vdev.sh -------------------------------------------------------------
mkdir -p "$stage/lib"
cat >"$stage/lib/vdev.sh" <<'VDEVSH'
# Generated by tests/guest/mkinitramfs.sh: helpers for guest test scripts.
#
# host_action ACTION [ARGS...]: have the host harness run ACTION (its
# handler script, run-guest.sh --actions) and wait for its answer.
# Protocol, on the second serial port /dev/ttyS1 (raw, no echo): the
# guest writes "VDEV-HOST: ACTION ARGS...", the host answers
# "VDEV-ACK ACTION RC". The request is also printed on the console for the
# log. Returns RC; 125 when the test has no host actions (no
# vdev.host_actions=1 on the kernel command line); 124 when no answer came
# within $VDEV_HOST_ACTION_TIMEOUT seconds (default 150). Call it from the
# test's own shell, not from a $(...) subshell: the port stays open on
# fd 8 between calls so that no answer is lost.
host_action() {
	grep -qw 'vdev.host_actions=1' /proc/cmdline || {
		echo "host_action $1: this test has no host actions (HOST_ACTIONS)"
		return 125
	}
	if [ -z "${_VDEV_HA:-}" ]; then
		stty -F /dev/ttyS1 raw -echo || return 125
		exec 8<>/dev/ttyS1
		_VDEV_HA=1
	fi
	echo "VDEV-HOST: $*"
	echo "VDEV-HOST: $*" >&8
	_ha_end=$(($(date +%s) + ${VDEV_HOST_ACTION_TIMEOUT:-150}))
	while [ "$(date +%s)" -lt $_ha_end ]; do
		read -r -t 5 _ha_tag _ha_act _ha_rc <&8 || continue
		[ "$_ha_tag" = VDEV-ACK ] || continue
		# An answer to an earlier request that timed out is skipped.
		[ "$_ha_act" = "$1" ] || [ "$_ha_act" = invalid ] || continue
		echo "VDEV-HOST-ACK: $1 rc=$_ha_rc"
		return "$_ha_rc"
	done
	echo "host_action $1: no answer from the host"
	return 124
}
VDEVSH

# ---- /init -----------------------------------------------------------------
{
	printf '%s\n' "${load[@]}" | sed '/^$/d' >"$stage/etc/vdev-modules"
	for e in "${envs[@]}"; do
		printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
	done
} >"$stage/etc/vdev-env"

cat >"$stage/init" <<'EOF'
#!/bin/sh
# Generated by tests/guest/mkinitramfs.sh.
export PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
# Helper modules the kernel asks for go through busybox's modprobe.
echo /sbin/modprobe >/proc/sys/kernel/modprobe
rc=0
for m in $(cat /etc/vdev-modules); do
	out=$(modprobe "$m" 2>&1) || {
		echo "VDEV-TEST: FAIL modprobe:$m: $out"
		rc=1
	}
done
read -r up _ </proc/uptime
echo "VDEV-GUEST-START uptime=$up kernel=$(uname -r)"
if [ $rc -eq 0 ]; then
	. /etc/vdev-env
	export VDEV_GUEST=1
	cd /
	/bin/sh /test.sh
	rc=$?
fi
read -r up _ </proc/uptime
echo "VDEV-GUEST-DONE rc=$rc uptime=$up"
sync
poweroff -f
# poweroff should not return; if it does, exiting init panics and
# panic=-1 with -no-reboot ends QEMU.
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
tmp_out=$out.tmp.$$
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$tmp_out"
mv -f "$tmp_out" "$out"
echo "mkinitramfs: wrote $out ($(du -h "$out" | cut -f1))" >&2
