# Sources of lib/cpuid (appended to VDEV_SOURCES). One file per line.
list(APPEND VDEV_SOURCES
  lib/cpuid/cpuid_build.c
  lib/cpuid/cpuid_compare.c
  lib/cpuid/cpuid_emit.c
  lib/cpuid/cpuid_features.c
  lib/cpuid/cpuid_kvm.c
  lib/cpuid/cpuid_models.c
  lib/cpuid/cpuid_table.c
  lib/cpuid/cpuid_text.c
)
