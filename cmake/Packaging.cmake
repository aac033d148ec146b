# What `cmake --install build --prefix P` puts next to the tools (each tool's
# CMakeLists.txt installs its binary; lib/Runtime installs the runtime library,
# its headers and its CMake package):
#   share/layerpipe/models/     the model zoo (models/*.json)
#   share/layerpipe/machines/   machine files for --machine (models/machines/)
#   share/doc/layerpipe/        README.md, LICENSE, docs/ (with the model schema)
#   share/man/man1/             a man page per tool, made from its --help
#   lib/pkgconfig/              layerpipe-runtime.pc for the runtime library

install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/layerpipe/models
  FILES_MATCHING PATTERN "*.json" PATTERN "machines" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/machines/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/layerpipe/machines
  FILES_MATCHING PATTERN "*.json")
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/layerpipe)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/layerpipe/docs)

# Man pages: generated at build time from each tool's --help, so they cannot
# go stale.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  set(LAYERPIPE_MAN_PAGES)
  set(tools layerpipe layerpipe-train layerpipe-gen layerpipe-profile)
  if(TARGET layerpipe-mpi-probe)
    list(APPEND tools layerpipe-mpi-probe)
  endif()
  foreach(tool ${tools})
    set(page ${PROJECT_BINARY_DIR}/man/${tool}.1)
    add_custom_command(OUTPUT ${page}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/cmake/help-to-man.py
        $<TARGET_FILE:${tool}> ${page}
      DEPENDS ${tool} ${PROJECT_SOURCE_DIR}/cmake/help-to-man.py
      COMMENT "Man page of ${tool}")
    list(APPEND LAYERPIPE_MAN_PAGES ${page})
  endforeach()
  # layerpipe-import (Python, argparse) writes its own page with --man; it
  # runs under Debian's /usr/bin/python3, which needs no PyTorch for this.
  if(EXISTS /usr/bin/python3)
    set(page ${PROJECT_BINARY_DIR}/man/layerpipe-import.1)
    set(script ${PROJECT_SOURCE_DIR}/tools/layerpipe-import/layerpipe-import)
    add_custom_command(OUTPUT ${page}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND /usr/bin/python3 ${script} --man ${page}
      DEPENDS ${script}
      COMMENT "Man page of layerpipe-import")
    list(APPEND LAYERPIPE_MAN_PAGES ${page})
  endif()
  add_custom_target(layerpipe_man_pages ALL DEPENDS ${LAYERPIPE_MAN_PAGES})
  install(FILES ${LAYERPIPE_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()

configure_file(${PROJECT_SOURCE_DIR}/cmake/layerpipe-runtime.pc.in
  ${PROJECT_BINARY_DIR}/layerpipe-runtime.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/layerpipe-runtime.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
