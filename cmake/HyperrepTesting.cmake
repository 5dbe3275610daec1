# Test helpers: GoogleTest discovery for unit tests, and MPI test programs registered as
# mpirun runs at several world sizes (as root and oversubscribed where Open MPI needs it).
find_package(GTest REQUIRED)
include(GoogleTest)

set(HYPERREP_MPIEXEC_FLAGS "" CACHE STRING "Extra flags for mpirun in tests")
if(HYPERREP_WITH_MPI)
  execute_process(COMMAND "${MPIEXEC_EXECUTABLE}" --version OUTPUT_VARIABLE _mpi_version ERROR_QUIET)
  if(_mpi_version MATCHES "Open MPI|OpenRTE")
    set(_hyperrep_mpi_flags --oversubscribe --allow-run-as-root --bind-to none)
  endif()
endif()

# hyperrep_add_mpi_test(TARGET NPS 1 2 3): one ctest entry per world size, labelled "mpi".
function(hyperrep_add_mpi_test target)
  cmake_parse_arguments(ARG "" "" "NPS" ${ARGN})
  foreach(np ${ARG_NPS})
    add_test(NAME ${target}.np${np}
      COMMAND "${MPIEXEC_EXECUTABLE}" ${_hyperrep_mpi_flags} ${HYPERREP_MPIEXEC_FLAGS} -np ${np} $<TARGET_FILE:${target}>)
    set_tests_properties(${target}.np${np} PROPERTIES LABELS "mpi" PROCESSORS ${np} TIMEOUT 600
      ENVIRONMENT "OMP_NUM_THREADS=1;OMPI_MCA_btl_vader_single_copy_mechanism=none;OMPI_MCA_rmaps_base_oversubscribe=1")
  endforeach()
endfunction()

# The mpirun command line for scripts, space separated (ctest's ENVIRONMENT splits on ';').
string(REPLACE ";" " " _flags_text "${_hyperrep_mpi_flags}")
set(HYPERREP_MPIRUN_PREFIX "${MPIEXEC_EXECUTABLE} ${_flags_text}" CACHE INTERNAL "")
