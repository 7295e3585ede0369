#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build libvdev with gcc (build/run) and run the main demo: the example KVM
# runner vdev-run (examples/kvm-runner) with SeaBIOS booting a generated boot
# disk and a generated El Torito CD-ROM from libvdev's virtio-scsi, showing
# the guest's output (examples/kvm-runner/demo.sh). Installs missing tools
# first (scripts/deps.sh).
#
# Without a usable /dev/kvm it says so loudly and runs the PCI demo instead
# (examples/vdev-pci-demo: a tiny "VMM" that enumerates pci-testdev the way
# firmware does and drives it).
#
# Usage: scripts/run.sh [--pci-demo]
#   --pci-demo   run the PCI demo even when KVM is available
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/run

want_pci=0
case ${1:-} in
'') ;;
--pci-demo) want_pci=1 ;;
*) echo "run.sh: unknown argument '$1' (usage: scripts/run.sh [--pci-demo])" >&2; exit 2 ;;
esac

bash "$root/scripts/deps.sh"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DVDEV_EXAMPLES=ON -DVDEV_TESTS=OFF -DVDEV_FUZZ=OFF -DVDEV_SANITIZE=OFF >/dev/null
cmake --build "$dir" -j "${JOBS:-2}" --target vdev-run vdev-pci-demo
echo

if [[ $want_pci -eq 0 ]]; then
	if { exec 3<>/dev/kvm; } 2>/dev/null; then
		exec 3>&-
		exec bash "$root/examples/kvm-runner/demo.sh" "$dir/examples/kvm-runner/vdev-run"
	fi
	echo "######################################################################"
	echo "# run.sh: /dev/kvm is missing or not accessible: the KVM runner demo #"
	echo "# cannot run here. Running the PCI demo (no KVM needed) instead.     #"
	echo "######################################################################"
fi
exec "$dir/examples/vdev-pci-demo"
