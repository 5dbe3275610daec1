// Member architectures described by layer specs (conv(1,8,5), maxpool(2), act, flatten,
// linear(36,20), ...): shapes, the flat parameter layout, and a functional forward pass.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/config.h"
#include "common/enums.h"

namespace hyperrep::zoo {

enum class LayerKind { kConv, kLinear, kMaxPool, kAvgPool, kGap, kAct, kFlatten, kDropout };

struct Layer {
  LayerKind kind = LayerKind::kAct;
  int64_t in = 0;       // conv: in channels; linear: in features
  int64_t out = 0;      // conv: out channels; linear: out features
  int64_t kernel = 0;   // conv: kernel size (square); pools: window (= stride)
  int64_t stride = 1;   // conv
  int64_t padding = 0;  // conv: zeros on every side
  bool bias = true;
  std::vector<int64_t> in_shape, out_shape;  // per sample, e.g. {1, 28, 28}
  int64_t weight_offset = -1;                // offsets into the flat vector (conv/linear only)
  int64_t bias_offset = -1;
  // Index of the module in the equivalent torch.nn.Sequential (gap is two modules there:
  // AdaptiveAvgPool2d(1) and Flatten, so later layers' indices are not their spec positions).
  int64_t sequential_index = 0;
  // A stride-1 convolution without padding (the population's direct kernels cover these).
  bool plain_conv() const { return kind == LayerKind::kConv && stride == 1 && padding == 0; }

  bool has_params() const { return kind == LayerKind::kConv || kind == LayerKind::kLinear; }
  // Values in one neuron's incoming weights: in * kernel^2 for conv, in for linear.
  int64_t fan_in() const { return kind == LayerKind::kConv ? in * kernel * kernel : in; }
  int64_t weight_numel() const { return out * fan_in(); }
  int64_t param_numel() const { return weight_numel() + (bias ? out : 0); }
  std::vector<int64_t> weight_shape() const;
};

// Most parameters one member may have (the autoencoder and the shards index them as int64, but
// a member this large is a typo, and its populations would not fit in memory).
inline constexpr int64_t kMaxParams = int64_t{1} << 31;

class Architecture {
 public:
  Architecture() = default;
  // Parses layer specs for inputs of per-sample shape input_shape ({C, H, W} or {F}); throws
  // ConfigError on unknown layers or inconsistent shapes, naming the layer.
  static Architecture parse(const std::vector<std::string>& spec, std::vector<int64_t> input_shape);

  const std::vector<Layer>& layers() const { return layers_; }
  const std::vector<int64_t>& input_shape() const { return input_shape_; }
  const std::vector<std::string>& spec() const { return spec_; }
  int64_t num_params() const { return num_params_; }
  int64_t num_classes() const { return layers_.empty() ? 0 : layers_.back().out_shape.back(); }
  // Indices (into layers()) of the conv/linear layers, in order.
  const std::vector<size_t>& param_layers() const { return param_layers_; }
  // Sizes of each parameter block in flat order (weight, bias of layer 0, weight, ...).
  std::vector<int64_t> block_sizes() const;
  // One line per layer with shapes and parameter counts.
  std::string describe() const;

 private:
  std::vector<Layer> layers_;
  std::vector<int64_t> input_shape_;
  std::vector<std::string> spec_;
  std::vector<size_t> param_layers_;
  int64_t num_params_ = 0;
};

torch::Tensor apply_activation(const torch::Tensor& x, Activation activation);

// Forward pass of one member given its flat weights [L] on inputs x [N, ...input_shape];
// dropout layers are the identity (evaluation). Returns logits [N, classes].
torch::Tensor functional_forward(const Architecture& arch, Activation activation, const torch::Tensor& flat_weights,
                                 const torch::Tensor& x);

// The [zoo] section against its task (per-sample input shape, class count): the layers parse,
// shapes fit layer by layer, and the last layer has one output per class. Each issue is placed
// at the zoo.architecture line. The one check behind `config check` and `zoo generate`.
std::vector<ConfigIssue> check_zoo_architecture(const Config& cfg, const std::vector<int64_t>& input_shape, int64_t num_classes);

}  // namespace hyperrep::zoo
