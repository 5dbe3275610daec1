# Use ccache for C++ compilation when it is installed (cold CI builds stay cold, rebuilds get fast).
find_program(HYPERREP_CCACHE ccache)
if(HYPERREP_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${HYPERREP_CCACHE}")
  # Precompiled headers change timestamps; let ccache accept them.
  set(ENV{CCACHE_SLOPPINESS} "pch_defines,time_macros,include_file_mtime,include_file_ctime")
  message(STATUS "hyperrep: using ccache at ${HYPERREP_CCACHE}")
endif()
