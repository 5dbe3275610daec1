#include "zoo/architecture.h"

#include <sstream>

#include "common/error.h"
#include "common/layer_spec.h"

namespace hyperrep::zoo {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  return os.str() + "]";
}

}  // namespace

std::vector<int64_t> Layer::weight_shape() const {
  if (kind == LayerKind::kConv) return {out, in, kernel, kernel};
  return {out, in};
}

Architecture Architecture::parse(const std::vector<std::string>& spec, std::vector<int64_t> input_shape) {
  Architecture a;
  a.spec_ = spec;
  a.input_shape_ = input_shape;
  std::vector<int64_t> shape = input_shape;
  int64_t offset = 0, sequential = 0;
  for (size_t i = 0; i < spec.size(); ++i) {
    auto where = [&] { return "zoo.architecture[" + std::to_string(i) + "] '" + spec[i] + "' on input " + shape_str(shape); };
    LayerSpec ls;
    try {
      ls = parse_layer_spec(spec[i]);
    } catch (const ConfigError& e) {
      HYPERREP_THROW(ConfigError, "zoo.architecture[", i, "]: ", e.what());
    }
    const std::string& name = ls.name;
    Layer l;
    l.in_shape = shape;
    l.sequential_index = sequential++;
    l.bias = ls.bias;
    if (name == "conv") {
      l.kind = LayerKind::kConv;
      l.in = ls.ints[0], l.out = ls.ints[1], l.kernel = ls.ints[2];
      l.stride = ls.stride, l.padding = ls.padding;
      HYPERREP_CHECK(shape.size() == 3, ConfigError, where(), ": a convolution needs a [C, H, W] input, not a flat one");
      HYPERREP_CHECK(shape[0] == l.in, ConfigError, where(), ": expects ", l.in, " input channels, the input has ", shape[0]);
      const int64_t h = shape[1] + 2 * l.padding, w = shape[2] + 2 * l.padding;
      HYPERREP_CHECK(h >= l.kernel && w >= l.kernel, ConfigError, where(), ": kernel larger than the input",
                     l.padding > 0 ? " with its padding" : "");
      shape = {l.out, (h - l.kernel) / l.stride + 1, (w - l.kernel) / l.stride + 1};
    } else if (name == "linear") {
      l.kind = LayerKind::kLinear;
      l.in = ls.ints[0], l.out = ls.ints[1];
      HYPERREP_CHECK(shape.size() == 1, ConfigError, where(),
                     ": a linear layer needs a flat input (add flatten after conv layers)");
      HYPERREP_CHECK(shape[0] == l.in, ConfigError, where(), ": expects ", l.in, " input features, the input has ", shape[0]);
      shape = {l.out};
    } else if (name == "maxpool" || name == "avgpool") {
      l.kind = name == "maxpool" ? LayerKind::kMaxPool : LayerKind::kAvgPool;
      l.kernel = ls.ints[0];
      HYPERREP_CHECK(shape.size() == 3 && shape[1] >= l.kernel && shape[2] >= l.kernel, ConfigError, where(),
                     ": pooling needs a [C, H, W] input at least as large as the window");
      shape = {shape[0], shape[1] / l.kernel, shape[2] / l.kernel};
    } else if (name == "gap") {
      l.kind = LayerKind::kGap;
      HYPERREP_CHECK(shape.size() == 3, ConfigError, where(), ": global average pooling needs a [C, H, W] input");
      shape = {shape[0]};
      ++sequential;  // AdaptiveAvgPool2d(1), Flatten
    } else if (name == "act" || name == "dropout") {
      l.kind = name == "act" ? LayerKind::kAct : LayerKind::kDropout;
    } else {  // flatten
      l.kind = LayerKind::kFlatten;
      int64_t n = 1;
      for (auto s : shape) n *= s;
      shape = {n};
    }
    if (l.has_params()) {
      // In doubles first: four sizes of up to 2^24 multiply past int64.
      const double numel = static_cast<double>(l.out) * static_cast<double>(l.in) *
                               static_cast<double>(l.kind == LayerKind::kConv ? l.kernel * l.kernel : 1) +
                           static_cast<double>(l.bias ? l.out : 0);
      HYPERREP_CHECK(static_cast<double>(offset) + numel <= static_cast<double>(kMaxParams), ConfigError, where(),
                     ": the member would have more than ", kMaxParams, " parameters");
      l.weight_offset = offset;
      offset += l.weight_numel();
      if (l.bias) {
        l.bias_offset = offset;
        offset += l.out;
      }
      a.param_layers_.push_back(a.layers_.size());
    }
    l.out_shape = shape;
    a.layers_.push_back(l);
  }
  HYPERREP_CHECK(!a.param_layers_.empty(), ConfigError, "zoo.architecture has no conv or linear layer");
  HYPERREP_CHECK(shape.size() == 1, ConfigError, "zoo.architecture must end in a flat output (got ", shape_str(shape), ")");
  a.num_params_ = offset;
  return a;
}

std::vector<int64_t> Architecture::block_sizes() const {
  std::vector<int64_t> out;
  for (auto i : param_layers_) {
    out.push_back(layers_[i].weight_numel());
    if (layers_[i].bias) out.push_back(layers_[i].out);
  }
  return out;
}

std::string Architecture::describe() const {
  std::ostringstream os;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    os << i << ": " << spec_[i] << " " << shape_str(l.in_shape) << " -> " << shape_str(l.out_shape);
    if (l.has_params()) os << ", " << l.param_numel() << " parameters";
    os << "\n";
  }
  os << "total parameters: " << num_params_ << "\n";
  return os.str();
}

torch::Tensor apply_activation(const torch::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::kTanh: return torch::tanh(x);
    case Activation::kRelu: return torch::relu(x);
    case Activation::kSigmoid: return torch::sigmoid(x);
    case Activation::kGelu: return torch::gelu(x);
    case Activation::kLeakyRelu: return torch::leaky_relu(x, 0.01);
    case Activation::kSelu: return torch::selu(x);
    case Activation::kElu: return torch::elu(x);
  }
  HYPERREP_THROW(InternalError, "activation without an implementation");
}

torch::Tensor functional_forward(const Architecture& arch, Activation activation, const torch::Tensor& flat_weights,
                                 const torch::Tensor& x) {
  HYPERREP_CHECK(flat_weights.dim() == 1 && flat_weights.numel() == arch.num_params(), DataError, "functional_forward: expected ",
                 arch.num_params(), " weights, got ", flat_weights.numel());
  torch::Tensor h = x;
  for (const auto& l : arch.layers()) {
    switch (l.kind) {
      case LayerKind::kConv:
      case LayerKind::kLinear: {
        auto w = flat_weights.narrow(0, l.weight_offset, l.weight_numel()).view(l.weight_shape());
        torch::Tensor b = l.bias ? flat_weights.narrow(0, l.bias_offset, l.out) : torch::Tensor();
        h = l.kind == LayerKind::kConv ? torch::conv2d(h, w, b, l.stride, l.padding) : torch::linear(h, w, b);
        break;
      }
      case LayerKind::kMaxPool: h = torch::max_pool2d(h, l.kernel); break;
      case LayerKind::kAvgPool: h = torch::avg_pool2d(h, l.kernel); break;
      case LayerKind::kGap: h = h.mean({2, 3}); break;
      case LayerKind::kAct: h = apply_activation(h, activation); break;
      case LayerKind::kFlatten: h = h.flatten(1); break;
      case LayerKind::kDropout: break;
    }
  }
  return h;
}

std::vector<ConfigIssue> check_zoo_architecture(const Config& cfg, const std::vector<int64_t>& input_shape, int64_t num_classes) {
  std::vector<ConfigIssue> issues;
  try {
    const Architecture arch = Architecture::parse(cfg.zoo.architecture, input_shape);
    if (arch.num_classes() != num_classes) {
      issues.push_back(config_issue(cfg, "zoo.architecture",
                                    "the last layer has " + std::to_string(arch.num_classes()) + " outputs, task '" +
                                        cfg.zoo.task + "' has " + std::to_string(num_classes) + " classes"));
    }
  } catch (const ConfigError& e) {
    issues.push_back(config_issue(cfg, "zoo.architecture", e.what()));
  }
  return issues;
}

}  // namespace hyperrep::zoo
