#include "data/tokenizer_norm.h"

#include <sstream>

#include "common/error.h"
#include "common/fs.h"

namespace hyperrep::data {

LayerStatistics LayerStatistics::compute(const zoo::Architecture& arch, const torch::Tensor& train_weights,
                                         Granularity granularity) {
  HYPERREP_CHECK(train_weights.dim() == 2 && train_weights.size(1) == arch.num_params() && train_weights.size(0) > 0,
                 DataError, "LayerStatistics: expected [N>0, ", arch.num_params(), "] training weights, got ",
                 train_weights.sizes());
  std::vector<int64_t> sizes;
  for (size_t i : arch.param_layers()) {
    const auto& l = arch.layers()[i];
    if (granularity == Granularity::kLayer) {
      sizes.push_back(l.param_numel());
    } else {
      sizes.push_back(l.weight_numel());
      if (l.bias) sizes.push_back(l.out);
    }
  }
  auto w = train_weights.to(torch::kCPU, torch::kFloat64);
  std::vector<torch::Tensor> means, vars;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    auto block = w.narrow(1, offset, s);
    means.push_back(block.mean());
    vars.push_back(block.var(/*unbiased=*/false));
    offset += s;
  }
  LayerStatistics st;
  st.granularity_ = granularity;
  st.mean_ = torch::stack(means);
  st.var_ = torch::stack(vars);
  st.std_ = st.var_.sqrt();
  st.std_ = torch::where(st.std_.gt(0), st.std_, torch::ones_like(st.std_));
  st.sizes_ = torch::tensor(sizes, torch::kInt64);
  return st;
}

torch::Tensor LayerStatistics::expand(const torch::Tensor& per_group) const {
  return per_group.repeat_interleave(sizes_.to(per_group.device()));
}

torch::Tensor LayerStatistics::apply(const torch::Tensor& w) const {
  HYPERREP_CHECK(defined(), InternalError, "LayerStatistics::apply before compute/load");
  auto m = expand(mean_).to(w.device(), w.scalar_type());
  auto s = expand(std_).to(w.device(), w.scalar_type());
  return (w - m) / s;
}

torch::Tensor LayerStatistics::unapply(const torch::Tensor& w) const {
  HYPERREP_CHECK(defined(), InternalError, "LayerStatistics::unapply before compute/load");
  auto m = expand(mean_).to(w.device(), w.scalar_type());
  auto s = expand(std_).to(w.device(), w.scalar_type());
  return w * s + m;
}

void LayerStatistics::save(const std::string& path) const {
  auto g = torch::tensor({granularity_ == Granularity::kLayer ? int64_t{0} : int64_t{1}}, torch::kInt64);
  std::ostringstream os;
  torch::save(std::vector<torch::Tensor>{g, mean_, std_, var_, sizes_}, os);
  write_file_atomic(path, os.str());
}

LayerStatistics LayerStatistics::load(const std::string& path) {
  std::vector<torch::Tensor> t;
  std::istringstream is(read_file(path));
  try {
    torch::load(t, is);
  } catch (const c10::Error& e) {
    HYPERREP_THROW(IoError, "LayerStatistics: cannot read ", path, ": ", e.what_without_backtrace());
  }
  HYPERREP_CHECK(t.size() == 5, IoError, "LayerStatistics: ", path, " holds ", t.size(), " tensors, expected 5");
  LayerStatistics st;
  st.granularity_ = t[0].item<int64_t>() == 0 ? Granularity::kLayer : Granularity::kBlock;
  st.mean_ = t[1], st.std_ = t[2], st.var_ = t[3], st.sizes_ = t[4];
  return st;
}

}  // namespace hyperrep::data
