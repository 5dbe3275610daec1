#include "data/tokenizer.h"

#include "common/error.h"

namespace hyperrep::data {

std::vector<TokenLayer> token_layers(const zoo::Architecture& arch) {
  std::vector<TokenLayer> out;
  int64_t expected_offset = 0;
  for (size_t i : arch.param_layers()) {
    const auto& l = arch.layers()[i];
    TokenLayer t;
    t.layer_index = static_cast<int64_t>(i);
    t.neurons = l.out;
    t.fan_in = l.fan_in();
    t.bias = l.bias;
    t.weight_offset = l.weight_offset;
    t.bias_offset = l.bias ? l.bias_offset : -1;
    // detokenize rebuilds the flat vector by concatenation, so the layout must be contiguous.
    HYPERREP_CHECK(t.weight_offset == expected_offset && (!t.bias || t.bias_offset == t.weight_offset + l.weight_numel()),
                   InternalError, "token_layers: unexpected flat layout at layer ", i);
    expected_offset += l.param_numel();
    out.push_back(t);
  }
  HYPERREP_CHECK(!out.empty(), DataError, "tokenizer: the architecture has no conv/linear layer");
  return out;
}

NeuronTokenizer::NeuronTokenizer(const zoo::Architecture& arch) : layers_(token_layers(arch)) {
  num_params_ = arch.num_params();
  for (const auto& l : layers_) {
    num_tokens_ += l.neurons;
    max_dim_ = std::max(max_dim_, l.token_dim());
  }
}

std::vector<int64_t> NeuronTokenizer::token_dims() const {
  std::vector<int64_t> d;
  for (const auto& l : layers_) d.push_back(l.token_dim());
  return d;
}

std::vector<torch::Tensor> NeuronTokenizer::tokenize(const torch::Tensor& flat) const {
  HYPERREP_CHECK(flat.dim() == 2 && flat.size(1) == num_params_, InternalError, "NeuronTokenizer: expected [B, ", num_params_,
                 "], got ", flat.sizes());
  const int64_t b = flat.size(0);
  std::vector<torch::Tensor> out;
  for (const auto& l : layers_) {
    auto w = flat.narrow(1, l.weight_offset, l.neurons * l.fan_in).reshape({b, l.neurons, l.fan_in});
    if (l.bias) w = torch::cat({w, flat.narrow(1, l.bias_offset, l.neurons).unsqueeze(2)}, 2);
    out.push_back(w);
  }
  return out;
}

torch::Tensor NeuronTokenizer::detokenize(const std::vector<torch::Tensor>& tokens) const {
  HYPERREP_CHECK(tokens.size() == layers_.size(), InternalError, "NeuronTokenizer: expected ", layers_.size(),
                 " token tensors, got ", tokens.size());
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    const auto& t = tokens[i];
    HYPERREP_CHECK(t.dim() == 3 && t.size(1) == l.neurons && t.size(2) == l.token_dim(), InternalError, "NeuronTokenizer: layer ",
                   i, " tokens must be [B, ", l.neurons, ", ", l.token_dim(), "], got ", t.sizes());
    parts.push_back(t.narrow(2, 0, l.fan_in).reshape({t.size(0), l.neurons * l.fan_in}));
    if (l.bias) parts.push_back(t.select(2, l.fan_in));
  }
  return torch::cat(parts, 1);
}

torch::Tensor NeuronTokenizer::tokenize_padded(const torch::Tensor& flat) const {
  std::vector<torch::Tensor> padded;
  for (auto& t : tokenize(flat)) {
    padded.push_back(torch::constant_pad_nd(t, {0, max_dim_ - t.size(2)}, 0));
  }
  return torch::cat(padded, 1);
}

torch::Tensor NeuronTokenizer::detokenize_padded(const torch::Tensor& padded) const {
  HYPERREP_CHECK(padded.dim() == 3 && padded.size(1) == num_tokens_ && padded.size(2) == max_dim_, InternalError,
                 "NeuronTokenizer: padded tokens must be [B, ", num_tokens_, ", ", max_dim_, "], got ", padded.sizes());
  std::vector<torch::Tensor> tokens;
  int64_t start = 0;
  for (const auto& l : layers_) {
    tokens.push_back(padded.narrow(1, start, l.neurons).narrow(2, 0, l.token_dim()));
    start += l.neurons;
  }
  return detokenize(tokens);
}

torch::Tensor NeuronTokenizer::mask() const {
  auto m = torch::zeros({num_tokens_, max_dim_}, torch::kBool);
  int64_t start = 0;
  for (const auto& l : layers_) {
    m.narrow(0, start, l.neurons).narrow(1, 0, l.token_dim()).fill_(true);
    start += l.neurons;
  }
  return m;
}

PaddedTokenizer::PaddedTokenizer(const zoo::Architecture& arch, int64_t token_size)
    : layers_(token_layers(arch)), token_size_(token_size), num_params_(arch.num_params()) {
  HYPERREP_CHECK(token_size > 0, ConfigError, "model.token_size must be positive");
  std::vector<int64_t> index, global, layer, in_layer;
  for (size_t li = 0; li < layers_.size(); ++li) {
    const auto& l = layers_[li];
    const int64_t chunks = (l.token_dim() + token_size - 1) / token_size;
    int64_t k = 0;
    for (int64_t n = 0; n < l.neurons; ++n) {
      for (int64_t c = 0; c < chunks; ++c, ++k) {
        for (int64_t j = 0; j < token_size; ++j) {
          const int64_t e = c * token_size + j;  // entry of the neuron row (weights, then bias)
          if (e < l.fan_in) index.push_back(l.weight_offset + n * l.fan_in + e);
          else if (e == l.fan_in && l.bias) index.push_back(l.bias_offset + n);
          else index.push_back(-1);
        }
        global.push_back(static_cast<int64_t>(global.size()));
        layer.push_back(static_cast<int64_t>(li));
        in_layer.push_back(k);
      }
    }
    max_in_layer_ = std::max(max_in_layer_, k);
  }
  const int64_t t = static_cast<int64_t>(global.size());
  index_ = torch::tensor(index, torch::kInt64).view({t, token_size});
  positions_ = {torch::tensor(global, torch::kInt64), torch::tensor(layer, torch::kInt64),
                torch::tensor(in_layer, torch::kInt64)};
}

torch::Tensor PaddedTokenizer::tokenize(const torch::Tensor& flat) const {
  HYPERREP_CHECK(flat.dim() == 2 && flat.size(1) == num_params_, InternalError, "PaddedTokenizer: expected [B, ", num_params_,
                 "], got ", flat.sizes());
  auto idx = index_.to(flat.device());
  auto valid = idx.ge(0);
  // Gather with padding pointed at entry 0, then zero the padding.
  auto gathered = flat.index_select(1, idx.clamp_min(0).flatten()).view({flat.size(0), idx.size(0), token_size_});
  return gathered * valid.to(flat.dtype());
}

torch::Tensor PaddedTokenizer::detokenize(const torch::Tensor& tokens) const {
  HYPERREP_CHECK(tokens.dim() == 3 && tokens.size(1) == num_tokens() && tokens.size(2) == token_size_, InternalError,
                 "PaddedTokenizer: tokens must be [B, ", num_tokens(), ", ", token_size_, "], got ", tokens.sizes());
  auto idx = index_.to(tokens.device()).flatten();
  auto keep = idx.ge(0).nonzero().squeeze(1);
  auto values = tokens.reshape({tokens.size(0), -1}).index_select(1, keep);
  // Every parameter appears exactly once, so an index_copy along the flat dim inverts the gather.
  auto out = torch::zeros({tokens.size(0), num_params_}, tokens.options());
  return out.index_copy(1, idx.index_select(0, keep), values);
}

PaddedTokenizer::Window PaddedTokenizer::random_window(const torch::Tensor& tokens, int64_t window,
                                                       const KeyedDraws& draws) const {
  const int64_t b = tokens.size(0), t = tokens.size(1);
  const int64_t w = (window <= 0 || window >= t) ? t : window;
  auto dev = tokens.device();
  HYPERREP_CHECK(draws.rows() == b, InternalError, "random_window: ", b, " rows for ", draws.rows(), " keyed rows");
  auto start = draws.integers(kWindowStream, 0, t - w + 1).to(dev);
  auto rows = start.unsqueeze(1) + torch::arange(w, torch::TensorOptions().dtype(torch::kInt64).device(dev));  // [B, W]
  Window out;
  out.start = start;
  out.tokens = tokens.gather(1, rows.unsqueeze(2).expand({b, w, tokens.size(2)}));
  out.mask = mask().to(dev).index_select(0, rows.flatten()).view({b, w, token_size_});
  out.positions.global = positions_.global.to(dev).index_select(0, rows.flatten()).view({b, w});
  out.positions.layer = positions_.layer.to(dev).index_select(0, rows.flatten()).view({b, w});
  out.positions.in_layer = positions_.in_layer.to(dev).index_select(0, rows.flatten()).view({b, w});
  return out;
}

}  // namespace hyperrep::data
