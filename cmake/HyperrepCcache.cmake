# Use ccache for C++ compilation when it is installed (cold CI builds stay cold, rebuilds get fast).
find_program(HYPERREP_CCACHE ccache)
if(HYPERREP_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # Precompiled headers change timestamps and defines; ccache must be told to accept them.
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CMAKE_COMMAND};-E;env;CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime;${HYPERREP_CCACHE}")
  message(STATUS "hyperrep: using ccache at ${HYPERREP_CCACHE}")
endif()
