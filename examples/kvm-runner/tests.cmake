# SPDX-License-Identifier: MIT
# vdev-run tests, included from tests/CMakeLists.txt: unit tests of the boot
# protocol code (no KVM), and acceptance tests that boot SeaBIOS and a bzImage
# payload in KVM (label "kvm"; they print "SKIPPED: no /dev/kvm" and exit 77,
# ctest's skip, where /dev/kvm is missing); kvm_run_cpuid also needs the
# vdev-cpuid tool (tools/, configured after examples/ and before tests/).
# Programs and guest images are built by examples/kvm-runner/CMakeLists.txt.
if(TARGET vdev-run AND TARGET test_vdev_run_bootparams)
  add_test(NAME vdev_run_bootparams COMMAND test_vdev_run_bootparams)
  set_tests_properties(vdev_run_bootparams PROPERTIES LABELS unit TIMEOUT 60)
  set(_vdev_run_tests ${PROJECT_SOURCE_DIR}/examples/kvm-runner/tests)
  set(_vdev_run_images ${PROJECT_BINARY_DIR}/examples/kvm-runner)
  foreach(mode disk cdrom bzimage poke snapshot badspec badopts)
    add_test(NAME kvm_run_${mode}
      COMMAND ${_vdev_run_tests}/kvm_test.sh ${mode} $<TARGET_FILE:vdev-run> ${_vdev_run_images})
    set_tests_properties(kvm_run_${mode} PROPERTIES LABELS kvm SKIP_RETURN_CODE 77
      TIMEOUT 300 RUN_SERIAL TRUE)
  endforeach()
  # The guest's CPUID against the library's tables (tools/vdev-cpuid).
  if(TARGET vdev-cpuid)
    add_test(NAME kvm_run_cpuid
      COMMAND ${_vdev_run_tests}/kvm_test.sh cpuid $<TARGET_FILE:vdev-run> ${_vdev_run_images}
              $<TARGET_FILE:vdev-cpuid>)
    set_tests_properties(kvm_run_cpuid PROPERTIES LABELS kvm SKIP_RETURN_CODE 77
      TIMEOUT 300 RUN_SERIAL TRUE)
  endif()
endif()
