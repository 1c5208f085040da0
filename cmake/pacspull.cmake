# Target helpers: one library per folder, exported as pacspull::<name>.

add_library(pacspull_warnings INTERFACE)
target_compile_options(pacspull_warnings INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter)

# pacspull_library(<name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
# Headers live in <folder>/include/pacspull/<name>/, sources in <folder>/src/.
function(pacspull_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(pacspull_${name} STATIC ${A_SOURCES})
  add_library(pacspull::${name} ALIAS pacspull_${name})
  target_include_directories(pacspull_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(pacspull_${name} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS} pacspull_warnings)
  set_target_properties(pacspull_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# pacspull_test(<name> LABEL unit|integration|e2e SOURCES ... DEPS ...)
# A Catch2 executable registered with CTest under its tier label.
function(pacspull_test name)
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE pacspull_catch_main ${A_DEPS} pacspull_warnings)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${A_LABEL}" TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "TCP_NODELAY=1;PACSPULL_SOURCE_DIR=${PROJECT_SOURCE_DIR};PACSPULL_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# pacspull_service(<name> APP ... DEPS ...): the service's app (composition root and
# handlers, the APP sources) as a library pacspull::<name>_app, so tests drive its handlers
# without starting a process, and the executable pacspull-<name> from main.cpp over it.
function(pacspull_service name)
  cmake_parse_arguments(A "" "" "APP;SOURCES;DEPS" ${ARGN})
  list(APPEND A_APP ${A_SOURCES})  # the older form, SOURCES main.cpp <app sources>
  list(REMOVE_ITEM A_APP main.cpp)
  add_library(pacspull_${name}_app STATIC ${A_APP})
  add_library(pacspull::${name}_app ALIAS pacspull_${name}_app)
  target_include_directories(pacspull_${name}_app PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(pacspull_${name}_app PUBLIC ${A_DEPS} PRIVATE pacspull_warnings)
  add_executable(pacspull-${name} main.cpp)
  target_link_libraries(pacspull-${name} PRIVATE pacspull_${name}_app pacspull_warnings)
  set_target_properties(pacspull-${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()
