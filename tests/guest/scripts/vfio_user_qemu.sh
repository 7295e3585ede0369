# SPDX-License-Identifier: MIT
# Sourced by the vfio-user tests: vfu_find_qemu NAME ROOT exports VDEV_QEMU,
# a QEMU with the vfio-user-pci client — scripts/qemu-forky.sh's (cached;
# Debian 12's QEMU 7.2 has none) unless the caller set VDEV_QEMU — and
# prints its version. Exits 77 (ctest's skip), loudly, when forky's archive
# cannot be reached and nothing is cached; 1 when the script fails otherwise.
vfu_find_qemu() {
	local name=$1 root=$2 qemu rc=0
	if [[ -z ${VDEV_QEMU:-} ]]; then
		qemu=$(bash "$root/scripts/qemu-forky.sh" | tail -n 1) || rc=$?
		if [[ $rc -eq 77 ]]; then
			echo "=================================================================="
			echo "SKIPPED: $name: no QEMU with vfio-user-pci" \
			     "(scripts/qemu-forky.sh could not reach Debian forky)"
			echo "=================================================================="
			exit 77
		fi
		[[ $rc -eq 0 && -x $qemu ]] || { echo "$name: qemu-forky.sh failed ($rc)"; exit 1; }
		export VDEV_QEMU=$qemu
	fi
	echo "$name: QEMU $("$VDEV_QEMU" --version | head -n 1) ($VDEV_QEMU)"
}
