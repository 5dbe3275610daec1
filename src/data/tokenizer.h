// Weights as tokens (METHOD.md §2): the neuron tokenizer (one token per output neuron = its
// incoming weights and bias) and the padded SANE tokenizer (fixed-size chunks, mask, positions).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "common/keyed_random.h"
#include "zoo/architecture.h"

namespace hyperrep::data {

// One conv/linear layer as seen by the tokenizers.
struct TokenLayer {
  int64_t layer_index = 0;  // index into Architecture::layers()
  int64_t neurons = 0;      // output neurons / channels = tokens of this layer
  int64_t fan_in = 0;       // incoming weights per neuron
  bool bias = false;
  int64_t weight_offset = 0, bias_offset = -1;
  int64_t token_dim() const { return fan_in + (bias ? 1 : 0); }
};

std::vector<TokenLayer> token_layers(const zoo::Architecture& arch);

// Neuron tokens: layer l contributes neurons_l tokens of token_dim_l values (weight row, then
// bias). tokenize/detokenize are exact inverses on [B, L] (pure gathers and copies).
class NeuronTokenizer {
 public:
  NeuronTokenizer() = default;
  explicit NeuronTokenizer(const zoo::Architecture& arch);

  int64_t num_params() const { return num_params_; }
  int64_t num_tokens() const { return num_tokens_; }
  int64_t max_token_dim() const { return max_dim_; }
  const std::vector<TokenLayer>& layers() const { return layers_; }
  // Token dims per layer, e.g. CNN-s [26, 201, 25, 37, 21].
  std::vector<int64_t> token_dims() const;

  // flat [B, L] -> one tensor [B, neurons_l, token_dim_l] per layer.
  std::vector<torch::Tensor> tokenize(const torch::Tensor& flat) const;
  // Inverse of tokenize: scatters the per-layer tokens back to [B, L].
  torch::Tensor detokenize(const std::vector<torch::Tensor>& tokens) const;
  // flat [B, L] -> zero-padded [B, T, max_dim]; mask() tells which entries are real.
  torch::Tensor tokenize_padded(const torch::Tensor& flat) const;
  torch::Tensor detokenize_padded(const torch::Tensor& padded) const;
  // [T, max_dim] bool: true where the padded tensor holds a parameter.
  torch::Tensor mask() const;

 private:
  std::vector<TokenLayer> layers_;
  int64_t num_params_ = 0, num_tokens_ = 0, max_dim_ = 0;
};

// Positions of padded tokens: global index, layer index, index within the layer.
struct TokenPositions {
  torch::Tensor global, layer, in_layer;  // int64 [T] each (or [B, W] for windows)
};

// SANE tokens: each neuron row (weights then bias) is cut into chunks of token_size values, the
// last chunk zero-padded. One gather index [T, token_size] (-1 = padding) maps flat -> tokens.
class PaddedTokenizer {
 public:
  PaddedTokenizer() = default;
  PaddedTokenizer(const zoo::Architecture& arch, int64_t token_size);

  int64_t token_size() const { return token_size_; }
  int64_t num_tokens() const { return index_.size(0); }
  int64_t num_params() const { return num_params_; }
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  int64_t max_in_layer() const { return max_in_layer_; }
  const std::vector<TokenLayer>& layers() const { return layers_; }
  const TokenPositions& positions() const { return positions_; }
  // [T, token_size] bool: true where the token holds a parameter.
  torch::Tensor mask() const { return index_.ge(0); }
  // Flat index of every token entry, -1 for padding, [T, token_size].
  const torch::Tensor& index() const { return index_; }

  // flat [B, L] -> tokens [B, T, token_size] (padding = 0).
  torch::Tensor tokenize(const torch::Tensor& flat) const;
  // tokens [B, T, token_size] -> flat [B, L]; padding entries are ignored.
  torch::Tensor detokenize(const torch::Tensor& tokens) const;

  // A random window of `window` consecutive tokens per sample (window >= T: the whole sequence).
  struct Window {
    torch::Tensor tokens;      // [B, W, token_size]
    torch::Tensor mask;        // [B, W, token_size] bool
    TokenPositions positions;  // [B, W] each
    torch::Tensor start;       // [B] int64
  };
  // Row b's start is drawn from draws (keyed by row, common/keyed_random.h).
  Window random_window(const torch::Tensor& tokens, int64_t window, const KeyedDraws& draws) const;
  static constexpr uint64_t kWindowStream = 0x57696e0000000001ULL;

 private:
  std::vector<TokenLayer> layers_;
  torch::Tensor index_;  // int64 [T, token_size]
  TokenPositions positions_;
  int64_t token_size_ = 0, num_params_ = 0, max_in_layer_ = 0;
};

}  // namespace hyperrep::data
