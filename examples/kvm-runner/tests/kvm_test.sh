#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vdev-run acceptance tests. Usage: kvm_test.sh MODE VDEV_RUN IMAGES_DIR
#   MODE: disk | cdrom | bzimage | poke | snapshot | badopts | badspec
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
