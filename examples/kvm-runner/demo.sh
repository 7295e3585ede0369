#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vdev-run demo: SeaBIOS boots a generated boot disk and a generated El Torito
# CD-ROM from libvdev's virtio-scsi, and the boot code's output is shown.
#
# Usage: examples/kvm-runner/demo.sh [VDEV_RUN] [CACHE_DIR]
#   VDEV_RUN   the vdev-run binary (default: build/run/examples/kvm-runner/vdev-run,
#              what scripts/run.sh builds with --target vdev-run)
#   CACHE_DIR  where the images are made (default: ${XDG_CACHE_HOME:-~/.cache}/vdev-run-demo)
# Needs /dev/kvm, SeaBIOS (/usr/share/seabios/bios.bin), binutils and xorriso.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
run=${1:-$here/../../build/run/examples/kvm-runner/vdev-run}
cache=${2:-${XDG_CACHE_HOME:-$HOME/.cache}/vdev-run-demo}
mkdir -p "$cache"

[ -x "$run" ] || { echo "demo: no vdev-run at $run (build first)"; exit 1; }
{ exec 3<>/dev/kvm; } 2>/dev/null || { echo "demo: /dev/kvm is missing or not accessible"; exit 1; }
exec 3>&-

# The boot code: prints a marker on COM1 and leaves through the exit port.
if [ ! -s "$cache/bootsect.bin" ] || [ "$here/tests/bootsect.S" -nt "$cache/bootsect.bin" ]; then
	as --32 -o "$cache/bootsect.o" "$here/tests/bootsect.S"
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$cache/bootsect.bin" "$cache/bootsect.o"
fi
cp "$cache/bootsect.bin" "$cache/boot.img" && truncate -s 1M "$cache/boot.img"
: > "$cache/data.img" && truncate -s 8M "$cache/data.img"
mkdir -p "$cache/iso" && cp "$cache/bootsect.bin" "$cache/iso/boot.bin"
xorriso -as mkisofs -quiet -R -b boot.bin -no-emul-boot -boot-load-size 4 \
	-o "$cache/boot.iso" "$cache/iso" 2> /dev/null

demo() { # title, then vdev-run arguments
	local title=$1 st
	shift
	echo "== $title"
	echo "   vdev-run $*"
	# --sercon: SeaBIOS mirrors its screen on COM1; its terminal escapes are
	# stripped so the demo does not clear your terminal.
	set +e
	"$run" --sercon "$@" --serial stdio --timeout 120 |
		sed -u -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\r$//'
	st=${PIPESTATUS[0]}
	set -e
	echo
	echo "   (vdev-run exit status $st: 33 = the boot code wrote 0x10 to the exit port)"
}

demo "SeaBIOS boots LUN 3 (a disk) of a virtio-scsi controller with 3 LUNs" \
	--device "virtio-scsi-pci,lun0=$cache/data.img,lun1=cdrom:,lun3=$cache/boot.img,boot=lun3"
demo "SeaBIOS boots an El Torito CD-ROM on virtio-scsi" \
	--device "virtio-scsi-pci,lun0=$cache/data.img,lun2=cdrom:$cache/boot.iso,boot=lun2"
