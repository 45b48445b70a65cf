# CMake generated Testfile for 
# Source directory: /work/main
# Build directory: /work/main/build
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
subdirs("src/core")
subdirs("src/simd")
subdirs("src/index")
subdirs("src/expr")
subdirs("src/storage")
subdirs("src/db")
subdirs("src/vision")
subdirs("server")
subdirs("app")
subdirs("tests")
