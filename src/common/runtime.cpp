#include "common/runtime.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/error.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace hyperrep {

torch::Device resolve_device(const std::string& name, int local_rank) {
  const bool cuda = torch::cuda::is_available();
  if (name == "cpu" || (name == "auto" && !cuda)) return torch::Device(torch::kCPU);
  if (name == "cuda" || name == "auto") {
    HYPERREP_CHECK(cuda, ConfigError, "run.device = \"cuda\" but no CUDA device is available (use \"auto\" or \"cpu\")");
    const int n = static_cast<int>(torch::cuda::device_count());
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % n));
  }
  HYPERREP_THROW(ConfigError, "unknown device '", name, "' (expected auto, cpu or cuda)");
}

namespace {
struct ThreadSettings {
  int64_t threads = 0;
  int local_size = 1;
};
ThreadSettings g_thread_settings;
}  // namespace

int configure_threads(int64_t threads, int local_size, ThreadStage stage) {
  g_thread_settings = {threads, local_size};
  int n = static_cast<int>(threads);
  // An explicit OMP_NUM_THREADS (set by schedulers, test runners) wins over the stage default.
  if (n <= 0) {
    if (const char* env = std::getenv("OMP_NUM_THREADS")) n = std::atoi(env);
  }
  if (n <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    n = stage == ThreadStage::kTraining ? 1 : std::max(1, cores / std::max(1, local_size));
    static bool hinted = false;
    if (stage == ThreadStage::kTraining && local_size == 1 && cores > 1 && !hinted) {
      hinted = true;
      spdlog::warn(
          "training on one rank with one thread; this node has {} cores: `mpirun -np {}` trains data-parallel, "
          "one rank per core (README, \"Ranks and threads\"), or set run.threads",
          cores, cores);
    }
  }
  torch::set_num_threads(n);
  // LibTorch on OpenBLAS: OpenBLAS keeps its own pthread pool (one thread per core, whatever
  // torch was told). Zoo generation, embedding and probes parallelise around many small BLAS
  // calls, where the pool only competes with torch's OpenMP threads (128 CNN-s members: 2.3 ->
  // 9.7 member-epochs/s with the pool at one thread): held at one. The autoencoder step is a few
  // large GEMMs, which the pool does split: there it gets the stage's threads (TETRIS-SEED step
  // at 2 threads, libgomp waiting passively: 0.85-0.95 s with 2 OpenBLAS threads, 1.30 s with 1,
  // 1.39-1.46 s on one thread).
  set_blas_threads(stage == ThreadStage::kTraining ? n : 1);
  return n;
}

ThreadStage training_thread_stage(const std::string& device) {
  return resolve_device(device).is_cpu() ? ThreadStage::kTraining : ThreadStage::kGeneral;
}

int use_threads_for(ThreadStage stage) {
  return configure_threads(g_thread_settings.threads, g_thread_settings.local_size, stage);
}

namespace {
// Looked up at run time: the BLAS behind LibTorch is chosen by the system (alternatives).
using BlasSetter = void (*)(int);
using BlasGetter = int (*)();
const auto kBlasSet = reinterpret_cast<BlasSetter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
const auto kBlasGet = reinterpret_cast<BlasGetter>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
}  // namespace

int blas_threads() { return kBlasGet != nullptr ? kBlasGet() : 0; }

int set_blas_threads(int n) {
  if (kBlasSet == nullptr || kBlasGet == nullptr) return 0;
  kBlasSet(n);
  return kBlasGet();
}

namespace {

void set_cuda_bf16_autocast(bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, on);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
  at::autocast::set_enabled(on);
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
  if (!on) at::autocast::clear_cache();
}

}  // namespace

CudaBf16Autocast::CudaBf16Autocast(bool on) : on_(on) {
  if (on_) set_cuda_bf16_autocast(true);
}

CudaBf16Autocast::~CudaBf16Autocast() {
  if (on_) set_cuda_bf16_autocast(false);
}

int64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : int64_t{1} << 40;
}

void check_memory_estimate(const std::string& what, const std::vector<std::pair<std::string, double>>& parts) {
  double total = 0;
  const std::pair<std::string, double>* largest = nullptr;
  for (const auto& p : parts) {
    total += p.second;
    if (!largest || p.second > largest->second) largest = &p;
  }
  const double have = static_cast<double>(physical_memory_bytes());
  if (total <= have || !largest) return;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s needs about %.3g GB, this machine has %.3g GB; the largest part (%.3g GB) comes from ",
                what.c_str(), total / 1e9, have / 1e9, largest->second / 1e9);
  HYPERREP_THROW(ConfigError, buf, largest->first, ": lower it");
}

void restart_with_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Could not exec: run on with libgomp's default policy, and do not claim otherwise.
  unsetenv("OMP_WAIT_POLICY");
}

}  // namespace hyperrep
