# SPDX-License-Identifier: MIT
# Source rules (no abort/assert, no mutable globals, symbol prefixes, doc comments).
add_test(NAME lint_source_rules
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/lint/check_source_rules.sh ${PROJECT_SOURCE_DIR}
          $<TARGET_FILE:vdev_static>)
set_tests_properties(lint_source_rules PROPERTIES LABELS lint)
