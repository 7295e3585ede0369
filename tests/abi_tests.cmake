# SPDX-License-Identifier: MIT
# ABI tests (label "abi"), included from tests/CMakeLists.txt:
#   abi_headers   every public header compiles alone as C99/C11/C++ (tests/abi/check_headers.sh)
#   abi_symbols   libvdev.so exports exactly the VDEV_API functions, versioned by
#                 lib/libvdev.map, with the right SONAME (tests/abi/check_symbols.sh)
#   abi_consumer  a program builds and runs against the INSTALLED library via pkg-config
#                 and find_package(vdev) (tests/abi/check_consumer.sh)
# They run after the build (ctest does not build): paths come in as arguments.
# abi_consumer is skipped with VDEV_SANITIZE (a consumer of a sanitized libvdev
# would need the sanitizer runtimes itself; the other stages cover it).

find_program(VDEV_BASH bash REQUIRED)
set(_abi ${CMAKE_CURRENT_SOURCE_DIR}/abi)

# api_functions.sh strips comments with gcc -fpreprocessed, which clang lacks.
find_program(VDEV_ABI_GCC NAMES gcc)
if(VDEV_ABI_GCC)
  set(_abi_env "CC=${VDEV_ABI_GCC}")
elseif(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  set(_abi_env "CC=${CMAKE_C_COMPILER}")
else()
  message(WARNING "abi tests: gcc not found; the API parser needs it (scripts/deps.sh installs it)")
  set(_abi_env "CC=gcc")
endif()

# ---- abi_headers: the build's C compiler plus gcc and clang if present;
# g++ (and clang++ if present) for C++.
find_program(VDEV_ABI_CLANG NAMES clang)
find_program(VDEV_ABI_GXX NAMES g++)
find_program(VDEV_ABI_CLANGXX NAMES clang++)
set(_hdr_args)
set(_seen)
foreach(cc ${CMAKE_C_COMPILER} ${VDEV_ABI_GCC} ${VDEV_ABI_CLANG})
  get_filename_component(_real ${cc} REALPATH)
  if(NOT _real IN_LIST _seen)
    list(APPEND _seen ${_real})
    list(APPEND _hdr_args --cc ${cc})
  endif()
endforeach()
if(NOT VDEV_ABI_GXX)
  message(WARNING "abi_headers: g++ not found, headers are not checked as C++ "
                  "(scripts/deps.sh installs it)")
endif()
foreach(cxx ${VDEV_ABI_GXX} ${VDEV_ABI_CLANGXX})
  list(APPEND _hdr_args --cxx ${cxx})
endforeach()

add_test(NAME abi_headers
  COMMAND ${VDEV_BASH} ${_abi}/check_headers.sh ${_hdr_args} ${PROJECT_SOURCE_DIR}/include)
set_tests_properties(abi_headers PROPERTIES LABELS abi TIMEOUT 300 ENVIRONMENT "${_abi_env}")

# ---- abi_symbols: the SONAME must follow the major version of version.h.
add_test(NAME abi_symbols
  COMMAND ${VDEV_BASH} ${_abi}/check_symbols.sh $<TARGET_FILE:vdev>
          ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/lib/libvdev.map
          libvdev.so.${PROJECT_VERSION_MAJOR})
set_tests_properties(abi_symbols PROPERTIES LABELS abi TIMEOUT 120
  ENVIRONMENT "${_abi_env}" REQUIRED_FILES $<TARGET_FILE:vdev>)

# ---- abi_consumer: install into a scratch prefix in the build tree.
if(NOT VDEV_SANITIZE)
  add_test(NAME abi_consumer
    COMMAND ${VDEV_BASH} ${_abi}/check_consumer.sh
            --build ${PROJECT_BINARY_DIR} --source ${PROJECT_SOURCE_DIR}
            --work ${CMAKE_CURRENT_BINARY_DIR}/abi_consumer
            --cc ${CMAKE_C_COMPILER} --cmake ${CMAKE_COMMAND}
            --generator ${CMAKE_GENERATOR} --version ${PROJECT_VERSION})
  set_tests_properties(abi_consumer PROPERTIES LABELS abi TIMEOUT 600
    REQUIRED_FILES "$<TARGET_FILE:vdev>;$<TARGET_FILE:vdev_static>")
endif()
