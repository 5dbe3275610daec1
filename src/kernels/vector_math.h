// Vectorised elementwise maths for the population's CPU path.
#pragma once

#include <cstdint>

namespace hyperrep::kernels {

// True when this CPU runs AVX2 + FMA code (the direct conv kernels, the tanh below, the max-pool).
bool avx2_fma_available();
// True when this CPU runs AVX-512F code (the 16-lane forms of the kernels, taken where allowed).
bool avx512f_available();

// y[i] = tanh(x[i]) for i < n (x and y may alias), within 2.5e-7 relative of the exact value
// (1.6e-7 measured over a dense grid, tests/unit/population/population_ops_test.cpp);
// tanh(-0) = -0, +-inf -> +-1, NaN propagates. Every element goes through the same 8-wide
// code (the tail through a padded copy), so a value never depends on its position. Where the CPU
// has AVX-512 (and allow_avx512 holds) sixteen at a time with the same operations per lane: the
// same bits. Single-threaded.
void tanh_avx2(const float* x, float* y, int64_t n, bool allow_avx512 = true);

}  // namespace hyperrep::kernels
