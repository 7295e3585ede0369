#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The whole test suite, as CI runs it (.ci/run). Installs missing tools
# (scripts/deps.sh), then builds and tests in separate build directories:
#
#   gcc    build/gcc    gcc -O2 -g (RelWithDebInfo), -Werror, every ctest test,
#                       including the Linux guest tests (label guest, tests/guest:
#                       a Debian kernel under QEMU TCG; a minute or two)
#   clang  build/clang  clang -O0 -g (Debug), -Werror, every ctest test but the guest ones
#                       and the KVM-runner ones (label kvm: gcc and asan run those)
#   asan   build/asan   gcc with ASan + UBSan (VDEV_SANITIZE=ON), every ctest test but
#                       the guest ones (the SeaBIOS firmware tests, label firmware,
#                       take seconds and run in gcc, clang and asan)
#   tsan   build/tsan   gcc with ThreadSanitizer, the unit tests (the virtqueue's
#                       cross-thread completions run from real threads there)
#   fuzz   build/fuzz   clang with libFuzzer (VDEV_FUZZ=ON): the fuzz_smoke tests,
#                       FUZZ_SECONDS (default 10) per harness
#
# Stops at the first failing stage. Ends with the line "N passed, N failed"
# (ctest's counts summed over the stages run).
#
# Usage: scripts/test.sh [--quick] [--no-guest] [--stage NAME]...
#   --quick       the gcc stage only
#   --no-guest    skip the Linux guest tests (also: VDEV_NO_GUEST=1)
#   --stage NAME  run only the named stage(s) (repeatable)
# Environment: JOBS (default 2), FUZZ_SECONDS (default 10), VDEV_NO_GUEST,
# VDEV_GUEST_CACHE (where the guest kernel is cached; tests/guest/README.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}
fuzz_seconds=${FUZZ_SECONDS:-10}
no_guest=0
[[ ${VDEV_NO_GUEST:-0} == 0 ]] || no_guest=1
all_stages=(gcc clang asan tsan fuzz)
stages=()

usage() {
	awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) stages=(gcc) ;;
	--no-guest) no_guest=1 ;;
	--stage)
		[[ $# -ge 2 ]] || { usage >&2; exit 2; }
		if [[ ! " ${all_stages[*]} " == *" $2 "* ]]; then
			echo "test.sh: unknown stage '$2' (stages: ${all_stages[*]})" >&2
			exit 2
		fi
		stages+=("$2")
		shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "test.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ ${#stages[@]} -gt 0 ]] || stages=("${all_stages[@]}")

passed=0
failed=0
skipped=0
stage=setup
start=$SECONDS

banner() {
	printf '\n==================== %s ====================\n' "$*"
}

summary() {
	local rc=$?
	if [[ $rc -ne 0 && $failed -eq 0 ]]; then
		# Failed outside ctest (deps, configure, build): count it.
		failed=1
	fi
	echo
	if [[ $rc -ne 0 ]]; then
		echo "test.sh: FAILED in stage '$stage' (exit $rc) after $((SECONDS - start))s"
	else
		echo "test.sh: stages ${stages[*]} OK in $((SECONDS - start))s"
	fi
	[[ $skipped -eq 0 ]] || echo "test.sh: $skipped test(s) skipped"
	echo "$passed passed, $failed failed"
}
trap summary EXIT

# build DIR TARGET CMAKE_ARGS...: configure and build one tree.
build() {
	local dir=$1 target=$2
	shift 2
	cmake -S "$root" -B "$dir" -G Ninja "$@"
	if [[ -n $target ]]; then
		cmake --build "$dir" -j "$jobs" --target "$target"
	else
		cmake --build "$dir" -j "$jobs"
	fi
}

# run_ctest DIR CTEST_ARGS...: run ctest, add its counts to the totals,
# fail the script if a test failed.
run_ctest() {
	local dir=$1 log rc line total nfail nskip
	shift
	log=$dir/ctest-summary.log
	set +e
	(cd "$dir" && ctest --output-on-failure --no-tests=error -j "$jobs" "$@") 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
	if [[ -n $line ]]; then
		nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
		total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
		nskip=$(sed -n '/^The following tests did not run:/,/^$/p' "$log" |
			grep -c '(Skipped)' || true)
		passed=$((passed + total - nfail - nskip))
		failed=$((failed + nfail))
		skipped=$((skipped + nskip))
	fi
	if [[ $rc -ne 0 ]]; then
		[[ -n $line && $nfail -gt 0 ]] || failed=$((failed + 1))
		echo "test.sh: ctest failed in $dir (exit $rc)"
		exit 1
	fi
}

stage_gcc() {
	build "$root/build/gcc" "" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DVDEV_WERROR=ON -DVDEV_TESTS=ON -DVDEV_EXAMPLES=ON \
		-DVDEV_SANITIZE=OFF -DVDEV_FUZZ=OFF
	# The guest tests (slow: Linux under TCG) run here only, once.
	if [[ $no_guest -eq 1 ]]; then
		echo "test.sh: guest tests skipped (--no-guest / VDEV_NO_GUEST)"
		run_ctest "$root/build/gcc" -LE guest
	else
		run_ctest "$root/build/gcc"
	fi
}

stage_clang() {
	build "$root/build/clang" "" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DVDEV_WERROR=ON -DVDEV_TESTS=ON -DVDEV_EXAMPLES=ON \
		-DVDEV_SANITIZE=OFF -DVDEV_FUZZ=OFF
	run_ctest "$root/build/clang" -LE '^(guest|kvm)$'
}

stage_asan() {
	build "$root/build/asan" "" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug \
		-DVDEV_WERROR=ON -DVDEV_TESTS=ON -DVDEV_EXAMPLES=ON \
		-DVDEV_SANITIZE=ON -DVDEV_FUZZ=OFF
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_ctest "$root/build/asan" -LE guest
}

stage_tsan() {
	# -Wno-tsan: the ring code's fences order accesses to guest memory
	# against guest vCPUs, which TSan cannot model; gcc warns about them.
	build "$root/build/tsan" "" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug \
		-DVDEV_WERROR=ON -DVDEV_TESTS=ON -DVDEV_EXAMPLES=OFF \
		-DVDEV_SANITIZE=OFF -DVDEV_FUZZ=OFF \
		"-DCMAKE_C_FLAGS=-fsanitize=thread -O1 -Wno-tsan" \
		-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
		-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_ctest "$root/build/tsan" -L unit
}

stage_fuzz() {
	if ! compgen -G "$root/fuzz/fuzz_*.c" >/dev/null; then
		echo "test.sh: no fuzz/fuzz_*.c harnesses; nothing to fuzz"
		return 0
	fi
	build "$root/build/fuzz" fuzzers -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVDEV_WERROR=ON -DVDEV_TESTS=ON \
		-DVDEV_SANITIZE=OFF -DVDEV_FUZZ=ON -DVDEV_FUZZ_SECONDS="$fuzz_seconds"
	run_ctest "$root/build/fuzz" -R '^fuzz_smoke_'
}

banner "dependencies (scripts/deps.sh)"
bash "$root/scripts/deps.sh"

for stage in "${stages[@]}"; do
	t0=$SECONDS
	case $stage in
	gcc) banner "stage gcc: gcc -O2 -g, -Werror, all tests (build/gcc)" ;;
	clang) banner "stage clang: clang, -Werror, all tests but guest (build/clang)" ;;
	asan) banner "stage asan: gcc + ASan/UBSan, all tests but guest (build/asan)" ;;
	tsan) banner "stage tsan: gcc + ThreadSanitizer, unit tests (build/tsan)" ;;
	fuzz) banner "stage fuzz: clang + libFuzzer, ${fuzz_seconds}s per harness (build/fuzz)" ;;
	esac
	"stage_$stage"
	echo "test.sh: stage $stage done in $((SECONDS - t0))s"
done
stage=finished
