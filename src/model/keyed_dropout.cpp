#include "model/keyed_dropout.h"

namespace hyperrep::model {
namespace {

thread_local DropoutKeys* g_current = nullptr;

}  // namespace

torch::Tensor keyed_keep_mask(uint64_t seed, uint64_t step, const std::vector<int64_t>& rows, uint64_t call,
                              c10::IntArrayRef shape, double p) {
  return KeyedDraws(seed, step, rows).keep_mask(call, shape, p);
}

DropoutKeys::DropoutKeys(const KeyedDraws& draws) : draws_(draws), outer_(g_current) { g_current = this; }

DropoutKeys::~DropoutKeys() { g_current = outer_; }

DropoutKeys* DropoutKeys::current() { return g_current; }

torch::Tensor DropoutKeys::next_mask(c10::IntArrayRef shape, double p) {
  return draws_.keep_mask(calls_++, shape, p);
}

torch::Tensor KeyedDropoutImpl::forward(const torch::Tensor& x) {
  if (!is_training() || p_ <= 0) return x;
  DropoutKeys* keys = DropoutKeys::current();
  if (!keys) return torch::dropout(x, p_, true);
  return x * keys->next_mask(x.sizes(), p_).to(x.device(), x.scalar_type());
}

}  // namespace hyperrep::model
