# Third-party packages for the I/O adapters, all from Debian bookworm except
# prometheus-cpp (Debian 13 binaries under PACSPULL_DEPS_PREFIX, see deploy/setup.sh).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(DCMTK REQUIRED CONFIG)
find_package(Protobuf REQUIRED)
find_package(gRPC REQUIRED CONFIG)
# Debian's cnats CMake config names a static library the package does not ship, so
# libnats comes through pkg-config under the same target name.
pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)
if(NOT TARGET cnats::nats)
  add_library(cnats::nats ALIAS PkgConfig::NATS)
endif()
find_package(yaml-cpp REQUIRED CONFIG)
find_package(nlohmann_json REQUIRED CONFIG)
find_package(spdlog REQUIRED CONFIG)
find_package(CLI11 REQUIRED CONFIG)
find_package(prometheus-cpp REQUIRED CONFIG)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
