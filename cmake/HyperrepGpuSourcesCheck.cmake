# The NCCL and CUDA sources are built only with HYPERREP_WITH_NCCL, on a GPU machine, so a CPU
# build would let a change break them unseen. When the CUDA and NCCL headers are installed (the
# CUDA toolkit's include directory holds both on NVIDIA's images), a CPU build compiles them too,
# into objects that nothing links: distributed/nccl_communicator.cpp and tests/gpu/*.cpp.
# Debian's CPU LibTorch ships c10/cuda headers without the one its CUDA build generates
# (c10/cuda/impl/cuda_cmake_macros.h); a stand-in is generated in the build tree.
option(HYPERREP_CHECK_GPU_SOURCES "Compile the NCCL/CUDA sources in a CPU build when their headers are found" ON)
if(HYPERREP_WITH_NCCL OR NOT HYPERREP_CHECK_GPU_SOURCES)
  return()
endif()
find_path(HYPERREP_CUDA_INCLUDE_DIR cuda_runtime.h HINTS ENV CUDA_HOME ENV CUDA_PATH
  PATHS /usr/local/cuda/include /usr/include PATH_SUFFIXES include)
find_path(HYPERREP_NCCL_INCLUDE_DIR nccl.h HINTS ENV NCCL_ROOT "${HYPERREP_CUDA_INCLUDE_DIR}"
  PATHS /usr/include PATH_SUFFIXES include NO_DEFAULT_PATH)
find_path(HYPERREP_TORCH_CUDA_HEADERS c10/cuda/CUDAStream.h PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH)
if(NOT HYPERREP_CUDA_INCLUDE_DIR OR NOT HYPERREP_NCCL_INCLUDE_DIR OR NOT HYPERREP_TORCH_CUDA_HEADERS)
  message(STATUS "hyperrep: CUDA/NCCL headers not found; the NCCL and CUDA sources are not compiled in this build")
  return()
endif()
set(_shim "${PROJECT_BINARY_DIR}/cuda_shim")
file(MAKE_DIRECTORY "${_shim}/c10/cuda/impl")
if(NOT EXISTS "${HYPERREP_TORCH_CUDA_HEADERS}/c10/cuda/impl/cuda_cmake_macros.h")
  file(WRITE "${_shim}/c10/cuda/impl/cuda_cmake_macros.h" "#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
endif()
add_library(hyperrep_gpu_sources_check OBJECT "${PROJECT_SOURCE_DIR}/distributed/nccl_communicator.cpp")
target_include_directories(hyperrep_gpu_sources_check PRIVATE "${_shim}" "${HYPERREP_CUDA_INCLUDE_DIR}" "${HYPERREP_NCCL_INCLUDE_DIR}")
target_compile_definitions(hyperrep_gpu_sources_check PRIVATE HYPERREP_WITH_NCCL=1)
target_link_libraries(hyperrep_gpu_sources_check PRIVATE hyperrep_base)
if(TARGET GTest::gtest)  # the GPU tests too, when the tests are built
  target_sources(hyperrep_gpu_sources_check PRIVATE
    "${PROJECT_SOURCE_DIR}/tests/gpu/cuda_step_test.cpp" "${PROJECT_SOURCE_DIR}/tests/gpu/nccl_communicator_test.cpp")
  target_link_libraries(hyperrep_gpu_sources_check PRIVATE GTest::gtest)
endif()
hyperrep_warnings(hyperrep_gpu_sources_check)
message(STATUS "hyperrep: compiling the NCCL and CUDA sources against ${HYPERREP_CUDA_INCLUDE_DIR} (not linked)")
