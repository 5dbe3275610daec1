# hyperrep_warnings(TARGET): the project's warnings on every target it compiles (library,
# executable, tests, benchmarks); errors with -DHYPERREP_WERROR=ON, as tools/test.sh builds.
option(HYPERREP_WERROR "Treat compiler warnings as errors" OFF)
function(hyperrep_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow)
  if(HYPERREP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# hyperrep_module(NAME SOURCES... DEPENDS mods...): one static library per source module, all
# sharing one precompiled torch header (hyperrep_pch), so a module builds on its own.
function(hyperrep_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(hyperrep_${name} STATIC ${ARG_SOURCES})
  target_link_libraries(hyperrep_${name} PUBLIC hyperrep_base)
  foreach(dep ${ARG_DEPENDS})
    target_link_libraries(hyperrep_${name} PUBLIC hyperrep_${dep})
  endforeach()
  hyperrep_warnings(hyperrep_${name})
  target_precompile_headers(hyperrep_${name} REUSE_FROM hyperrep_pch)
  target_link_libraries(hyperrep_lib INTERFACE hyperrep_${name})
endfunction()

# hyperrep_use_pch(TARGET): reuse the shared precompiled header in an executable.
function(hyperrep_use_pch target)
  target_precompile_headers(${target} REUSE_FROM hyperrep_pch)
  hyperrep_warnings(${target})
endfunction()
