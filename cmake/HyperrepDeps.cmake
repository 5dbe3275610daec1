# Finds every dependency (all from Debian's packages) and defines hyperrep_deps, an interface
# target that carries them, with the fmt include shim for LibTorch builds that bundle fmt.
find_package(Torch REQUIRED)
find_package(Boost 1.71 REQUIRED COMPONENTS serialization)
find_package(tomlplusplus REQUIRED)
find_package(spdlog REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)
# LibTorch's at::parallel_for is a header template that runs serially unless the including
# translation unit is compiled with OpenMP: the population trainer's member chunks and kernels
# need it. It is the libgomp that Debian's LibTorch links, so torch ops inside our parallel
# regions see them and stay serial. A LibTorch that bundles its own libgomp (the PyTorch pip
# package of GPU machines) loads a second runtime: CUDA populations run one chunk (no region),
# but a CPU population there can oversubscribe; give it run.threads = 1 per rank.
find_package(OpenMP REQUIRED COMPONENTS CXX)

find_package(MPI COMPONENTS CXX)
if(MPI_CXX_FOUND)
  option(HYPERREP_WITH_MPI "Build the MPI communicator" ON)
else()
  option(HYPERREP_WITH_MPI "Build the MPI communicator" OFF)
endif()
if(HYPERREP_WITH_MPI AND NOT MPI_CXX_FOUND)
  message(FATAL_ERROR "HYPERREP_WITH_MPI=ON but no MPI was found (apt-get install libopenmpi-dev)")
endif()

if(HYPERREP_WITH_NCCL)
  find_package(NCCL REQUIRED)
endif()

add_library(hyperrep_deps INTERFACE)
target_link_libraries(hyperrep_deps INTERFACE
  ${TORCH_LIBRARIES} Boost::serialization tomlplusplus::tomlplusplus spdlog::spdlog
  ZLIB::ZLIB Threads::Threads OpenMP::OpenMP_CXX)
target_compile_options(hyperrep_deps INTERFACE ${TORCH_CXX_FLAGS})

# LibTorch >= 2.1 ships its own fmt headers, which clash with the system fmt that spdlog was
# built against. Put a generated include dir whose fmt/ points at the system fmt ahead of them.
set(_torch_fmt_dir "")
foreach(_inc ${TORCH_INCLUDE_DIRS})
  if(EXISTS "${_inc}/fmt/core.h" AND NOT _inc STREQUAL "/usr/include")
    set(_torch_fmt_dir "${_inc}")
  endif()
endforeach()
if(_torch_fmt_dir)
  find_path(HYPERREP_SYSTEM_FMT_DIR fmt/core.h PATHS /usr/include /usr/local/include NO_DEFAULT_PATH)
  if(HYPERREP_SYSTEM_FMT_DIR)
    set(_shim "${CMAKE_BINARY_DIR}/fmt_shim")
    file(MAKE_DIRECTORY "${_shim}")
    file(CREATE_LINK "${HYPERREP_SYSTEM_FMT_DIR}/fmt" "${_shim}/fmt" SYMBOLIC)
    target_include_directories(hyperrep_deps BEFORE INTERFACE "${_shim}")
    message(STATUS "hyperrep: Torch bundles fmt in ${_torch_fmt_dir}; shim points at ${HYPERREP_SYSTEM_FMT_DIR}/fmt")
  endif()
endif()

if(HYPERREP_WITH_MPI)
  target_link_libraries(hyperrep_deps INTERFACE MPI::MPI_CXX)
  target_compile_definitions(hyperrep_deps INTERFACE HYPERREP_WITH_MPI=1)
endif()
if(HYPERREP_WITH_NCCL)
  target_link_libraries(hyperrep_deps INTERFACE NCCL::NCCL)
  target_compile_definitions(hyperrep_deps INTERFACE HYPERREP_WITH_NCCL=1)
endif()
