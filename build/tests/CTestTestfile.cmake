# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[unit_core]=] "/work/main/build/tests/test_core")
set_tests_properties([=[unit_core]=] PROPERTIES  TIMEOUT "900" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;22;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[unit_index]=] "/work/main/build/tests/test_index")
set_tests_properties([=[unit_index]=] PROPERTIES  TIMEOUT "900" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;22;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[unit_simd]=] "/work/main/build/tests/test_simd")
set_tests_properties([=[unit_simd]=] PROPERTIES  TIMEOUT "900" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;22;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[unit_storage]=] "/work/main/build/tests/test_storage")
set_tests_properties([=[unit_storage]=] PROPERTIES  TIMEOUT "900" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;22;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[unit_vision]=] "/work/main/build/tests/test_vision")
set_tests_properties([=[unit_vision]=] PROPERTIES  TIMEOUT "900" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;22;add_test;/work/main/tests/CMakeLists.txt;0;")
subdirs("integration")
