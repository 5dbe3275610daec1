// Small timing helpers shared by the benchmarks: wall-clock medians and the machine's measured
// fp32 matrix-multiply rate, printed so that a slow BLAS is never silent.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

namespace hyperrep::bench {

inline double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Median seconds per call of fn over reps repetitions (after warmup calls).
inline double median_seconds(const std::function<void()>& fn, int reps, int warmup = 2) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_s();
    fn();
    t.push_back(now_s() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Measured fp32 GEMM rate in GFLOP/s for an n x n product on the CPU.
inline double gemm_gflops(int64_t n = 1024) {
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  auto c = torch::empty({n, n});
  const double s = median_seconds([&] { torch::mm_out(c, a, b); }, 5, 2);
  return 2.0 * n * n * n / s / 1e9;
}

}  // namespace hyperrep::bench
