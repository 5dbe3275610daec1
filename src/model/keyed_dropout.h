// Dropout whose masks are a function of (seed, step, sample, call, element) and nothing else: not
// of the rank, the local batch position, the thread or a generator's history. So N ranks that
// each hold part of a global batch drop exactly what one process holding all of it drops, and a
// resume at any world size continues the same masks. The trainer names the samples of a forward
// with a DropoutKeys scope; outside one (probes, tests of the bare model) training-mode dropout
// falls back to torch's own.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "common/keyed_random.h"

namespace hyperrep::model {

// While alive, keys the masks of every KeyedDropout forward on this thread: row i of the
// forward's input is sample draws.row_keys()[i] (e.g. 2 * global row + view). Calls are numbered
// in the order they happen, which is the same on every rank because the model code is; call k
// draws stream k of `draws` (which must outlive the scope).
class DropoutKeys {
 public:
  explicit DropoutKeys(const KeyedDraws& draws);
  ~DropoutKeys();
  DropoutKeys(const DropoutKeys&) = delete;
  DropoutKeys& operator=(const DropoutKeys&) = delete;

  static DropoutKeys* current();
  // Keep-mask scaled by 1 / (1 - p), float32 of `shape` (leading dim = rows) on the CPU.
  torch::Tensor next_mask(c10::IntArrayRef shape, double p);

 private:
  const KeyedDraws& draws_;
  uint64_t calls_ = 0;
  DropoutKeys* outer_;
};

// The mask itself, exposed for tests: element e of row r keeps with probability 1 - p, decided by
// a counter-based hash of (seed, step, rows[r], call, e).
torch::Tensor keyed_keep_mask(uint64_t seed, uint64_t step, const std::vector<int64_t>& rows, uint64_t call,
                              c10::IntArrayRef shape, double p);

class KeyedDropoutImpl : public torch::nn::Module {
 public:
  explicit KeyedDropoutImpl(double p) : p_(p) {}
  torch::Tensor forward(const torch::Tensor& x);
  double p() const { return p_; }

 private:
  double p_;
};
TORCH_MODULE(KeyedDropout);

}  // namespace hyperrep::model
