#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build libvdev with gcc (build/run) and run the PCI demo,
# examples/vdev-pci-demo: a tiny "VMM" that enumerates pci-testdev the way
# firmware does and drives it, printing every step. Installs missing tools
# first (scripts/deps.sh). Arguments are passed to the demo.
#
# Usage: scripts/run.sh [DEMO-ARGS...]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/run

bash "$root/scripts/deps.sh"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DVDEV_EXAMPLES=ON -DVDEV_TESTS=OFF -DVDEV_FUZZ=OFF -DVDEV_SANITIZE=OFF >/dev/null
cmake --build "$dir" -j "${JOBS:-2}" --target vdev-pci-demo
echo
exec "$dir/examples/vdev-pci-demo" "$@"
