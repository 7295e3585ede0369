#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vdev-run acceptance tests. Usage: kvm_test.sh MODE VDEV_RUN IMAGES_DIR [VDEV_CPUID]
#   MODE: disk | cdrom | bzimage | poke | snapshot | badopts | badspec | cpuid
#   (cpuid needs VDEV_CPUID, the tools/vdev-cpuid program)
# IMAGES_DIR holds the boot code built by CMake (bootsect.bin, bootsect_tick.bin (20 ticks),
# bzpayload.bin, bzpayload_poke.bin). Needs /dev/kvm except for badopts; without
# it the test prints "SKIPPED: no /dev/kvm" and exits 77 (ctest's skip code).
set -u
mode=$1
run=$2
img=$3
marker=VDEV-BOOT-OK

tmp=$(mktemp -d /tmp/vdev-run-test.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*.txt "$tmp"/*.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }
	done
	exit 1
}

need_kvm() {
	if ! { exec 3<>/dev/kvm; } 2>/dev/null; then
		echo "SKIPPED: no /dev/kvm (or it cannot be opened): the KVM runner tests need it"
		exit 77
	fi
	exec 3>&-
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# disk image: boot code (if any) + zeroes up to 1 MiB
mkdisk() { # out [bootcode]
	if [ -n "${2:-}" ]; then cp "$2" "$1"; else : > "$1"; fi
	truncate -s 1M "$1"
}

expect_status() { # got want what
	[ "$1" -eq "$2" ] || fail "$3: exit status $1, expected $2"
}

# ---- cpuid mode ---------------------------------------------------------------
# Leaves are held in associative arrays keyed "FUNCTION.INDEX.REG" (function
# as 8 hex digits, index in hex without zeroes: "00000001.0.ecx").

# "FUNCTION INDEX EAX EBX ECX EDX" lines (numbers in C syntax) on stdin.
load_leaves() { # array
	local -n _arr=$1
	local f i a b c d k
	while read -r f i a b c d; do
		k=$(printf '%08x.%x' $((f)) $((i)))
		_arr[$k.eax]=$((a)) _arr[$k.ebx]=$((b)) _arr[$k.ecx]=$((c)) _arr[$k.edx]=$((d))
	done
}

hex() { printf '0x%08x' "$1"; }

# Guest (G), expected (E) and KVM-changed (C) registers of the last cpuid_run.
declare -A G=() E=() C=()

# The runner names every register KVM_GET_CPUID2 reads back differently from
# what it installed: "KVM changed CPUID 0xF.0xI REG: 0xSET -> 0xGOT".
load_changes() { # array stderr-file
	local -n _chg=$1
	local f i r a b h='0x[0-9a-f]+'
	while read -r f i r a b; do
		_chg[$(printf '%08x.%x' $((f)) $((i))).$r]="$((a)) $((b))"
	done < <(sed -nE \
		"s/.*KVM changed CPUID ($h)\.($h) (e[a-d]x): ($h) -> ($h).*/\1 \2 \3 \4 \5/p" "$2")
}

# Bytes of registers as text, up to the first NUL (the guest prints it that way).
regs_text() { # values...
	local v j c out=""
	for v in "$@"; do
		for j in 0 8 16 24; do
			c=$(((v >> j) & 0xff))
			[ $c -eq 0 ] && { printf '%s' "$out"; return; }
			out+=$(printf "\\$(printf %03o $c)")
		done
	done
	printf '%s' "$out"
}

# Boot bzpayload with --cpu SPEC and compare everything it printed with the
# library's table for SPEC. Sets the globals G (guest leaves), E (expected),
# C (changes KVM admitted) for the caller. Errors go to $tmp/cpuid-errors.txt.
cpuid_run() { # spec tag
	local spec=$1 tag=$2 k g e a b
	G=() E=() C=()
	"$run" --kernel "$img/bzpayload.bin" --cpu "$spec" --serial "$tmp/serial-$tag.txt" \
		--timeout 60 2> "$tmp/stderr-$tag.txt"
	expect_status $? 67 "payload with --cpu $spec"
	tr -d '\r' < "$tmp/serial-$tag.txt" > "$tmp/guest-$tag.txt"
	"$cli" show "$spec" --mask-host > "$tmp/expected-$tag.txt" 2> "$tmp/cli-$tag.log" ||
		fail "vdev-cpuid show $spec --mask-host failed"
	load_leaves G < <(awk '$1 == "cpuid" { print $2, $3, $4, $5, $6, $7 }' \
		"$tmp/guest-$tag.txt")
	load_leaves E < <(awk '/^0x/ { print $1, $2, $4, $5, $6, $7 }' "$tmp/expected-$tag.txt")
	load_changes C "$tmp/stderr-$tag.txt"
	[ ${#G[@]} -eq 40 ] || fail "--cpu $spec: the guest printed ${#G[@]} of 40 CPUID registers"
	for k in $(printf '%s\n' "${!G[@]}" | sort); do
		g=${G[$k]}
		[ -n "${E[$k]+x}" ] || { echo "--cpu $spec: CPUID $k not in the library's table" \
			>> "$tmp/cpuid-errors.txt"; continue; }
		e=${E[$k]}
		if [ -n "${C[$k]+x}" ]; then
			# KVM kept something else than it was given and said so through
			# KVM_GET_CPUID2. Upstream KVM does this for a few bits it derives
			# from vCPU state (CPUID.1:EDX.APIC from IA32_APIC_BASE;
			# CPUID.1:ECX.OSXSAVE from CR4, which this payload never changes);
			# PVM's /dev/kvm for leaf 1 ECX/EDX and all of leaf 7. Those
			# bits, and only those, are excused here: the runner must have
			# installed the library's value, and the guest must see what KVM kept.
			read -r a b <<< "${C[$k]}"
			[ $a -eq $e ] || echo "--cpu $spec: CPUID $k: runner installed $(hex $a)," \
				"library says $(hex $e)" >> "$tmp/cpuid-errors.txt"
			[ $g -eq $b ] || echo "--cpu $spec: CPUID $k: guest sees $(hex $g), KVM" \
				"reports $(hex $b)" >> "$tmp/cpuid-errors.txt"
			[ $g -ne $e ] && echo "NOTE: --cpu $spec: CPUID $k: guest $(hex $g)," \
				"library $(hex $e): KVM changed bits $(hex $((g ^ e)))"
		elif [ $g -ne $e ]; then
			echo "--cpu $spec: CPUID $k: guest sees $(hex $g), library says $(hex $e)" \
				>> "$tmp/cpuid-errors.txt"
		fi
	done
	return 0
}

cpuid_errors() {
	[ -s "$tmp/cpuid-errors.txt" ] || return 0
	cat "$tmp/cpuid-errors.txt"
	fail "the guest does not see the CPUID the library built (above)"
}

# Vendor, family/model/stepping, brand and the KVM leaves of the last run, with
# the strings hard-coded as a cross-check of the library.
cpuid_identity() { # spec tag vendor brand
	local spec=$1 tag=$2 model=${1%%,*} v fam mod step want got dropped_cli dropped_run
	shift
	v=$(sed -n 's/^vendor=//p' "$tmp/guest-$tag.txt")
	[ "$v" = "$2" ] || echo "--cpu $spec: guest vendor '$v', expected '$2'" \
		>> "$tmp/cpuid-errors.txt"
	[ "$(regs_text ${E[00000000.0.ebx]} ${E[00000000.0.edx]} ${E[00000000.0.ecx]})" = "$2" ] ||
		echo "--cpu $spec: library vendor is not '$2'" >> "$tmp/cpuid-errors.txt"
	got=$(sed -n 's/^brand=//p' "$tmp/guest-$tag.txt")
	[ "$got" = "$3" ] || echo "--cpu $spec: guest brand '$got', expected '$3'" \
		>> "$tmp/cpuid-errors.txt"
	got=$(sed -n 's/^kvmsig=//p' "$tmp/guest-$tag.txt")
	[ "$got" = KVMKVMKVM ] || echo "--cpu $spec: guest KVM signature '$got'" \
		>> "$tmp/cpuid-errors.txt"
	# KVM's cpuid.rst: 0x40000001 EAX bit 6 is KVM_FEATURE_PV_EOI.
	[ $(((G[40000001.0.eax] >> 6) & 1)) -eq 1 ] ||
		echo "--cpu $spec: PV-EOI bit clear in the guest's 0x40000001 EAX" \
		>> "$tmp/cpuid-errors.txt"
	# Family/model/stepping: SDM vol. 2A, CPUID leaf 1 EAX (extended family
	# added when the family is 0xf; extended model for families 6 and 0xf);
	# expected values from "vdev-cpuid list".
	v=${G[00000001.0.eax]}
	fam=$(((v >> 8) & 0xf)) mod=$(((v >> 4) & 0xf)) step=$((v & 0xf))
	[ $fam -eq 6 ] || [ $fam -eq 15 ] && mod=$((mod + (((v >> 16) & 0xf) << 4)))
	[ $fam -eq 15 ] && fam=$((fam + ((v >> 20) & 0xff)))
	want=$("$cli" list | sed -nE \
		"s|^$model +[0-9]+ +[A-Za-z]+ +([0-9]+)/ *([0-9]+)/([0-9]+) .*|\1/\2/\3|p")
	[ -n "$want" ] && [ "$fam/$mod/$step" = "$want" ] ||
		echo "--cpu $spec: guest family/model/stepping $fam/$mod/$step, vdev-cpuid list" \
		"says '$want'" >> "$tmp/cpuid-errors.txt"
	# The features the runner named as dropped are the library's.
	dropped_cli=$(sed -n 's/^# dropped (host lacks)://p' "$tmp/expected-$tag.txt" |
		tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ')
	dropped_run=$(sed -n "s/^vdev-run: --cpu .*: dropped \([^ ]*\) (.*/\1/p" \
		"$tmp/stderr-$tag.txt" | sort | tr '\n' ' ')
	[ "$dropped_cli" = "$dropped_run" ] || echo "--cpu $spec: runner dropped" \
		"'$dropped_run', library '$dropped_cli'" >> "$tmp/cpuid-errors.txt"
	return 0
}

# A feature removed with "-feat" is clear in the guest and set without it.
# Candidates are "name:function:register:bit" (bit positions from the SDM
# and the AMD APM, independent of the library); the first one the masked
# model has is used, unless KVM itself sets that bit again (it says so, see
# cpuid_run): then the next one.
cpuid_removal() { # model candidates...
	local model=$1 c name f r bit k a b
	shift
	cpuid_run "$model" "$model-with"
	cpuid_errors
	declare -A with=()
	for k in "${!G[@]}"; do with[$k]=${G[$k]}; done
	for c in "$@"; do
		IFS=: read -r name f r bit <<< "$c"
		k=$(printf '%08x.0.%s' $((f)) "$r")
		grep -q "^# features:.* $name\( \|$\)" "$tmp/expected-$model-with.txt" || continue
		[ $(((with[$k] >> bit) & 1)) -eq 1 ] ||
			fail "--cpu $model: $name ($k bit $bit) clear in the guest:" \
			"$(hex ${with[$k]})"
		cpuid_run "$model,-$name" "$model-without"
		cpuid_errors
		[ $(((E[$k] >> bit) & 1)) -eq 0 ] ||
			fail "--cpu $model,-$name: $name still set in the library's table"
		if [ -n "${C[$k]+x}" ]; then
			read -r a b <<< "${C[$k]}"
			if [ $((((a ^ b) >> bit) & 1)) -eq 1 ]; then
				echo "NOTE: --cpu $model,-$name: KVM sets $name ($k bit" \
					"$bit) again; trying the next feature"
				continue
			fi
		fi
		[ $(((G[$k] >> bit) & 1)) -eq 0 ] ||
			fail "--cpu $model,-$name: $name ($k bit $bit) still set in the guest:" \
			"$(hex ${G[$k]})"
		echo "--cpu $model: $name ($k bit $bit) set in the guest; with -$name clear"
		return 0
	done
	fail "--cpu $model: no feature of '$*' could be removed on this host"
}

cpuid_modes() {
	local spec tag
	: > "$tmp/cpuid-errors.txt"
	# The models of issue 7 (an Intel and an AMD one) and a Skylake, whose
	# leaf 7 EBX keeps clflushopt/clwb even on a host as reduced as this one.
	for spec in "Haswell-noTSX,-avx" "Opteron_G5" "Skylake-Server"; do
		tag=${spec//[,+]/_}
		cpuid_run "$spec" "$tag"
		case $spec in
		Haswell*) cpuid_identity "$spec" "$tag" GenuineIntel \
			"Intel Core Processor (Haswell, no TSX)"
			# AVX is CPUID.1:ECX bit 28: the comparison above already
			# failed unless it is clear or KVM admitted putting it back.
			[ $(((G[00000001.0.ecx] >> 28) & 1)) -eq 1 ] &&
				echo "NOTE: --cpu $spec: KVM gives the guest AVX anyway"
			;;
		Opteron*) cpuid_identity "$spec" "$tag" AuthenticAMD "AMD Opteron 63xx class CPU" ;;
		Skylake*) cpuid_identity "$spec" "$tag" GenuineIntel \
			"Intel Xeon Processor (Skylake)" ;;
		esac
		cpuid_errors
		echo "--cpu $spec: the guest sees the library's table" \
			"(${#C[@]} registers changed by KVM, see NOTEs)"
	done
	cpuid_removal Haswell-noTSX avx:1:ecx:28 sse4_2:1:ecx:20 x2apic:1:ecx:21 cx16:1:ecx:13
	cpuid_removal Opteron_G5 fma4:0x80000001:ecx:16 xop:0x80000001:ecx:11 \
		lahf_lm:0x80000001:ecx:0 3dnowprefetch:0x80000001:ecx:8 cx16:1:ecx:13
}

case $mode in
disk)
	need_kvm
	mkdisk "$tmp/empty0.img"
	mkdisk "$tmp/empty1.img"
	mkdisk "$tmp/boot.img" "$img/bootsect.bin"
	# The boot disk is LUN 3 among several; boot=lun3 puts it first in "bootorder".
	t0=$(now)
	dev="virtio-scsi-pci,lun0=$tmp/empty0.img,lun1=$tmp/empty1.img,lun3=$tmp/boot.img,boot=lun3"
	"$run" --device "$dev" --serial "$tmp/serial.txt" --debugcon "$tmp/debugcon.log" \
		--timeout 120 2> "$tmp/stderr.txt"
	st=$?
	t=$(elapsed "$t0")
	expect_status $st 33 "disk boot"
	grep -q "$marker" "$tmp/serial.txt" || fail "no marker on COM1"
	grep -q "Booting from Hard Disk" "$tmp/debugcon.log" || fail "SeaBIOS did not boot the disk"
	echo "boot time (start to boot-code output, guest run by emulation): ${t} s"
	;;
cdrom)
	need_kvm
	mkdisk "$tmp/empty0.img"
	mkdir "$tmp/iso" && cp "$img/bootsect.bin" "$tmp/iso/boot.bin"
	xorriso -as mkisofs -quiet -R -b boot.bin -no-emul-boot -boot-load-size 4 \
		-o "$tmp/boot.iso" "$tmp/iso" > "$tmp/xorriso.txt" 2>&1 || fail "xorriso"
	# No bootorder: SeaBIOS's CMOS order (disk, then CD) tries the empty disk first.
	t0=$(now)
	"$run" --device "virtio-scsi-pci,lun0=$tmp/empty0.img,lun1=cdrom:,lun2=cdrom:$tmp/boot.iso" \
		--serial "$tmp/serial.txt" --debugcon "$tmp/debugcon.log" --timeout 120 2> "$tmp/stderr.txt"
	st=$?
	t=$(elapsed "$t0")
	expect_status $st 33 "CD-ROM boot"
	grep -q "$marker" "$tmp/serial.txt" || fail "no marker on COM1"
	grep -q "Booting from DVD/CD" "$tmp/debugcon.log" || fail "SeaBIOS did not boot the CD"
	echo "boot time (start to boot-code output, guest run by emulation): ${t} s"
	;;
bzimage)
	need_kvm
	"$run" --kernel "$img/bzpayload.bin" --append "console=ttyS0 vdev=yes" \
		--serial "$tmp/serial.txt" --timeout 60 2> "$tmp/stderr.txt"
	expect_status $? 67 "bzImage payload"
	grep -q "cmdline=console=ttyS0 vdev=yes" "$tmp/serial.txt" || fail "command line not printed"
	grep -q "e820=005" "$tmp/serial.txt" || fail "e820 count not 5"
	# Above 4 GiB RAM adds a sixth e820 entry.
	"$run" --kernel "$img/bzpayload.bin" -m 4608M --serial "$tmp/serial2.txt" --timeout 60 \
		2> "$tmp/stderr2.txt"
	expect_status $? 67 "bzImage payload, 4.5 GiB"
	grep -q "e820=006" "$tmp/serial2.txt" || fail "e820 count not 6 with RAM above 4 GiB"
	# A libvdev CPU model (masked against the host) runs the payload too.
	"$run" --kernel "$img/bzpayload.bin" --cpu "Haswell-noTSX,-avx" --append cpu \
		--serial "$tmp/serial5.txt" --timeout 60 2> "$tmp/stderr5.txt"
	expect_status $? 67 "bzImage payload with --cpu"
	grep -q "cmdline=cpu" "$tmp/serial5.txt" || fail "--cpu run printed nothing"
	# A command line longer than cmdline_size (255) is refused.
	"$run" --kernel "$img/bzpayload.bin" --append "$(printf 'x%.0s' $(seq 300))" \
		--serial none 2> "$tmp/stderr3.txt"
	expect_status $? 2 "overlong --append"
	grep -q "takes at most 255" "$tmp/stderr3.txt" || fail "no clear message for --append"
	# Not a bzImage.
	"$run" --kernel "$img/bootsect.bin" --serial none 2> "$tmp/stderr4.txt"
	expect_status $? 2 "boot sector as --kernel"
	grep -q "not a usable 64-bit bzImage" "$tmp/stderr4.txt" || fail "no clear message for --kernel"
	;;
poke)
	need_kvm
	"$run" --kernel "$img/bzpayload_poke.bin" --serial "$tmp/serial.txt" --timeout 60 \
		2> "$tmp/stderr.txt"
	expect_status $? 67 "payload poking unknown ports and MMIO"
	grep -q poked "$tmp/serial.txt" || fail "payload did not get past its pokes"
	grep -q "unknown port accesses: 1 reads, 1 writes" "$tmp/stderr.txt" ||
		fail "port pokes not counted"
	grep -q "unknown MMIO accesses: 2 reads, 2 writes" "$tmp/stderr.txt" ||
		fail "MMIO pokes not counted"
	;;
snapshot)
	need_kvm
	mkdisk "$tmp/tick.img" "$img/bootsect_tick.bin"
	dev="virtio-scsi-pci,lun0=$tmp/tick.img"
	"$run" --device "$dev" --save-state "$tmp/state.bin" --serial "$tmp/serial1.txt" \
		--debugcon "$tmp/debugcon1.log" --timeout 120 2> "$tmp/stderr1.txt" &
	pid=$!
	pids+=($pid)
	# Wait until the boot code is printing, then snapshot and kill the VM.
	for _ in $(seq 1200); do
		[ "$(grep -c tick "$tmp/serial1.txt" 2>/dev/null)" -ge 2 ] && break
		kill -0 $pid 2>/dev/null || fail "first run ended early"
		sleep 0.1
	done
	kill -USR1 $pid
	for _ in $(seq 300); do [ -f "$tmp/state.bin" ] && break; sleep 0.1; done
	[ -f "$tmp/state.bin" ] || fail "no state file after SIGUSR1"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	before=$(grep -c tick "$tmp/serial1.txt")
	grep -q "$marker" "$tmp/serial1.txt" && fail "first run finished before the snapshot"
	echo "snapshot taken after $before ticks"
	"$run" --device "$dev" --load-state "$tmp/state.bin" --serial "$tmp/serial2.txt" \
		--debugcon "$tmp/debugcon2.log" --timeout 120 2> "$tmp/stderr2.txt"
	expect_status $? 33 "restored run"
	grep -q "$marker" "$tmp/serial2.txt" || fail "restored run did not finish the boot"
	after=$(grep -c tick "$tmp/serial2.txt")
	# It continued where it stopped: no new POST, and the ticks add up (give or take
	# the one in flight at the snapshot).
	grep -q "SeaBIOS (version" "$tmp/debugcon2.log" && fail "restored run re-ran the BIOS"
	total=$((before + after))
	[ $total -ge 19 ] && [ $total -le 21 ] && [ $after -lt 20 ] ||
		fail "ticks: $before + $after, expected 20"

	# Adversarial state files: refused with a clear message, the guest never runs.
	check_refused() { # file what
		"$run" --device "$dev" --load-state "$1" --serial "$tmp/serial3.txt" --timeout 60 \
			2> "$tmp/stderr3.txt"
		st=$?
		[ $st -eq 70 ] || fail "$2: exit status $st, expected 70"
		grep -q -- "--load-state" "$tmp/stderr3.txt" || fail "$2: no clear message"
		[ -s "$tmp/serial3.txt" ] && fail "$2: the guest ran"
		return 0
	}
	size=$(stat -c %s "$tmp/state.bin")
	head -c $((size / 2)) "$tmp/state.bin" > "$tmp/truncated.bin"
	check_refused "$tmp/truncated.bin" "truncated state"
	head -c 100 "$tmp/state.bin" > "$tmp/short.bin"
	check_refused "$tmp/short.bin" "100-byte state"
	cp "$tmp/state.bin" "$tmp/corrupt.bin"
	printf '\xff\xff\xff\x7f' | dd of="$tmp/corrupt.bin" bs=1 seek=28 conv=notrunc 2>/dev/null
	check_refused "$tmp/corrupt.bin" "corrupt record length"
	: > "$tmp/empty.bin"
	check_refused "$tmp/empty.bin" "empty state"
	check_refused /dev/null "empty device"
	# A valid file for a different machine (RAM size) is refused too.
	"$run" --device "$dev" -m 256 --load-state "$tmp/state.bin" --serial "$tmp/serial3.txt" \
		--timeout 60 2> "$tmp/stderr3.txt"
	[ $? -eq 70 ] || fail "state of a 128 MiB VM loaded into 256 MiB"
	grep -q "saved with other options" "$tmp/stderr3.txt" || fail "no clear message (RAM size)"
	;;
cpuid)
	# --cpu MODEL as the guest sees it: bzpayload prints CPUID from inside the
	# guest; every value is compared with what libvdev builds for the same
	# spec on the host ("vdev-cpuid show SPEC --mask-host" masks against
	# KVM_GET_SUPPORTED_CPUID exactly as vdev-run does). Only the strings are
	# also hard-coded, as a cross-check.
	need_kvm
	cli=${4:-}
	[ -x "$cli" ] || fail "cpuid mode needs the vdev-cpuid program as 4th argument"
	cpuid_modes
	;;
badopts)
	# No KVM needed: the command line is checked first.
	check_usage() { # expected-message args...
		local msg=$1
		shift
		"$run" "$@" > "$tmp/out.txt" 2> "$tmp/err.txt"
		st=$?
		[ $st -eq 2 ] || fail "vdev-run $*: exit status $st, expected 2"
		grep -q -- "$msg" "$tmp/err.txt" || fail "vdev-run $*: message lacks '$msg'"
	}
	check_usage "unknown option --bogus" --bogus
	check_usage "needs an argument" --device
	check_usage "want 16M..64G" -m 1
	check_usage "want 16M..64G" -m 12X
	check_usage "want 16M..64G" --memory -5
	check_usage "want 1..86400" --timeout 0
	check_usage "want 1..86400" --timeout 1e3
	check_usage "need --kernel" --append "x"
	check_usage "exclude each other" --kernel a --bios b
	check_usage "unexpected argument" stray
	"$run" --help > "$tmp/out.txt" || fail "--help failed"
	grep -q "usage: vdev-run" "$tmp/out.txt" || fail "--help text"
	;;
badspec)
	need_kvm
	mkdisk "$tmp/d.img"
	check_spec() { # expected-message spec
		"$run" --device "$2" --serial none --timeout 30 > "$tmp/out.txt" 2> "$tmp/err.txt"
		st=$?
		[ $st -eq 2 ] || fail "--device $2: exit status $st, expected 2"
		grep -q -- "$1" "$tmp/err.txt" || fail "--device $2: message lacks '$1'"
	}
	check_spec "unknown device type" "no-such-device"
	check_spec "queue-size" "virtio-scsi-pci,queue-size=3"
	check_spec "lun0=/nonexistent" "virtio-scsi-pci,lun0=/nonexistent/disk.img"
	check_spec "lun0=" "virtio-scsi-pci,lun0=$tmp/d.img:bogus"
	check_spec "lun99999" "virtio-scsi-pci,lun99999=$tmp/d.img"
	check_spec "boot=lunx" "virtio-scsi-pci,lun0=$tmp/d.img,boot=lunx"
	check_spec "lun0=" "virtio-scsi-pci,lun0=$tmp/d.img,lun0=$tmp/d.img"
	"$run" --cpu NoSuchCPU --serial none > "$tmp/out.txt" 2> "$tmp/err.txt"
	[ $? -eq 2 ] || fail "--cpu with an unknown model"
	grep -q 'unknown CPU model' "$tmp/err.txt" || fail "--cpu message"
	"$run" --cpu "Haswell,+nosuchfeature" --serial none > "$tmp/out.txt" 2> "$tmp/err.txt"
	[ $? -eq 2 ] || fail "--cpu with an unknown feature"
	"$run" --bios /etc/hostname --serial none > "$tmp/out.txt" 2> "$tmp/err.txt"
	[ $? -eq 2 ] || fail "--bios with a non-ROM file"
	grep -q "multiple of 64 KiB" "$tmp/err.txt" || fail "--bios message"
	;;
*)
	echo "unknown mode $mode"
	exit 1
	;;
esac
echo "PASS: $mode"
exit 0
