# Strict warnings, errors on gcc and clang (STYLE.md §13).
set(KITE_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wformat=2 -Wvla -Werror -Wno-unused-parameter)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  # gcc's truncation heuristics flag every bounded snprintf of a message.
  list(APPEND KITE_WARNINGS -Wno-format-truncation)
endif()
function(kite_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:${KITE_WARNINGS}>)
endfunction()
