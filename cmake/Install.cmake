# Install.cmake — `cmake --install <build> --prefix P` (docs/OPERATIONS.md):
#   P/bin/kite                         the server and command line
#   P/<libdir>/libkite.so*             the embedded library (include/kite/*.h)
#   P/include/kite/*.h                 its public headers
#   P/<libdir>/pkgconfig/kite.pc       relocatable (prefix from ${pcfiledir})
#   P/share/man/man1/kite.1            the man page
#   P/lib/systemd/system/kite.service  systemd unit (packaging/kite.service)
#   P/share/kite/kite.conf             example configuration (docs/CONFIG.md)
include(GNUInstallDirs)

install(TARGETS kite RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET libkite)
  install(TARGETS libkite
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/kite
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

# kite.pc: the prefix is found from the .pc file's own place, so the same file
# works for any --prefix given at install time.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(KITE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(KITE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  string(REPLACE "/" ";" _kite_pc_parts "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  set(KITE_PC_PREFIX "\${pcfiledir}")
  foreach(_p ${_kite_pc_parts})
    string(APPEND KITE_PC_PREFIX "/..")
  endforeach()
  set(KITE_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
set(KITE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
configure_file(${CMAKE_SOURCE_DIR}/packaging/kite.pc.in ${CMAKE_BINARY_DIR}/kite.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/kite.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES ${CMAKE_SOURCE_DIR}/docs/kite.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/kite.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/kite.conf DESTINATION ${CMAKE_INSTALL_DATADIR}/kite)
