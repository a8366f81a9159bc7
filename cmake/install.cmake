# cmake --install: the public headers, the static library, the CLI and a CMake package, so that
# another project builds against an installed gift with
#   find_package(gift 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE gift::gift)
# (tests/consumer is such a project, built and run by ctest against a temporary prefix).
#
# What crosses to a consumer (INTERFACE of gift::gift): the include directory, Eigen, nlohmann
# json and Random123 headers (public headers include them), and the definitions that fix
# Eigen's layout and threading for everyone (EIGEN_MAX_ALIGN_BYTES=64, EIGEN_DONT_PARALLELIZE;
# CMakeLists.txt says why). What stays private: -march=native, the warning flags, -Werror; a
# consumer compiles for its own CPU. The static library's private link dependencies (zlib,
# OpenMP, threads) are found again by giftConfig.cmake, as a static link needs them.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(GIFT_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/gift CACHE STRING
  "Where cmake --install puts giftConfig.cmake (relative to the prefix)")

target_include_directories(gift PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set_target_properties(gift_cli PROPERTIES EXPORT_NAME cli)

install(TARGETS gift gift_cli EXPORT giftTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/gift DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT dev FILES_MATCHING PATTERN "*.h")
install(EXPORT giftTargets NAMESPACE gift:: DESTINATION ${GIFT_INSTALL_CMAKEDIR}
  COMPONENT dev)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/giftConfig.cmake.in
  ${PROJECT_BINARY_DIR}/giftConfig.cmake INSTALL_DESTINATION ${GIFT_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/giftConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/giftConfig.cmake ${PROJECT_BINARY_DIR}/giftConfigVersion.cmake
  DESTINATION ${GIFT_INSTALL_CMAKEDIR} COMPONENT dev)
