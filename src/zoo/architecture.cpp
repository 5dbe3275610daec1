#include "zoo/architecture.h"

#include <regex>
#include <sstream>

#include "common/error.h"

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
  static const std::regex kCall(R"(^\s*(\w+)\s*(\(([^)]*)\))?\s*$)");
  Architecture a;
  a.spec_ = spec;
  a.input_shape_ = input_shape;
  std::vector<int64_t> shape = input_shape;
  int64_t offset = 0;
  for (size_t i = 0; i < spec.size(); ++i) {
    std::smatch m;
    HYPERREP_CHECK(std::regex_match(spec[i], m, kCall), ConfigError, "zoo.architecture[", i, "]: bad layer '", spec[i], "'");
    const std::string name = m[1];
    std::vector<std::string> args;
    {
      std::stringstream ss(m[3].str());
      std::string tok;
      while (std::getline(ss, tok, ',')) {
        tok.erase(0, tok.find_first_not_of(" \t"));
        tok.erase(tok.find_last_not_of(" \t") + 1);
        if (!tok.empty()) args.push_back(tok);
      }
    }
    auto where = [&] { return "zoo.architecture[" + std::to_string(i) + "] '" + spec[i] + "' on input " + shape_str(shape); };
    auto num = [&](size_t k) -> int64_t {
      HYPERREP_CHECK(k < args.size(), ConfigError, where(), ": missing argument ", k + 1);
      try {
        return std::stoll(args[k]);
      } catch (const std::exception&) {
        HYPERREP_THROW(ConfigError, where(), ": argument '", args[k], "' is not an integer");
      }
    };
    Layer l;
    l.in_shape = shape;
    l.sequential_index = static_cast<int64_t>(i);
    if (name == "conv") {
      l.kind = LayerKind::kConv;
      l.in = num(0), l.out = num(1), l.kernel = num(2);
      l.bias = !(args.size() > 3 && args[3] == "nobias");
      HYPERREP_CHECK(shape.size() == 3 && shape[0] == l.in, ConfigError, where(), ": expects ", l.in, " input channels");
      HYPERREP_CHECK(shape[1] >= l.kernel && shape[2] >= l.kernel, ConfigError, where(), ": kernel larger than the input");
      shape = {l.out, shape[1] - l.kernel + 1, shape[2] - l.kernel + 1};
    } else if (name == "linear") {
      l.kind = LayerKind::kLinear;
      l.in = num(0), l.out = num(1);
      l.bias = !(args.size() > 2 && args[2] == "nobias");
      HYPERREP_CHECK(shape.size() == 1 && shape[0] == l.in, ConfigError, where(), ": expects ", l.in,
                     " input features (add flatten after conv layers)");
      shape = {l.out};
    } else if (name == "maxpool" || name == "avgpool") {
      l.kind = name == "maxpool" ? LayerKind::kMaxPool : LayerKind::kAvgPool;
      l.kernel = num(0);
      HYPERREP_CHECK(shape.size() == 3 && l.kernel >= 1 && shape[1] >= l.kernel && shape[2] >= l.kernel, ConfigError, where(),
                     ": pooling needs a [C, H, W] input at least as large as the window");
      shape = {shape[0], shape[1] / l.kernel, shape[2] / l.kernel};
    } else if (name == "act" || name == "dropout") {
      l.kind = name == "act" ? LayerKind::kAct : LayerKind::kDropout;
    } else if (name == "flatten") {
      l.kind = LayerKind::kFlatten;
      int64_t n = 1;
      for (auto s : shape) n *= s;
      shape = {n};
    } else {
      HYPERREP_THROW(ConfigError, where(), ": unknown layer '", name, "'");
    }
    if (l.has_params()) {
      HYPERREP_CHECK(l.in > 0 && l.out > 0 && (l.kind != LayerKind::kConv || l.kernel > 0), ConfigError, where(),
                     ": sizes must be positive");
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

torch::Tensor apply_activation(const torch::Tensor& x, const std::string& activation) {
  if (activation == "tanh") return torch::tanh(x);
  if (activation == "relu") return torch::relu(x);
  if (activation == "sigmoid") return torch::sigmoid(x);
  if (activation == "gelu") return torch::gelu(x);
  if (activation == "leaky_relu") return torch::leaky_relu(x, 0.01);
  HYPERREP_THROW(ConfigError, "unknown activation '", activation, "'");
}

torch::Tensor functional_forward(const Architecture& arch, const std::string& activation,
                                 const torch::Tensor& flat_weights, const torch::Tensor& x) {
  HYPERREP_CHECK(flat_weights.dim() == 1 && flat_weights.numel() == arch.num_params(), DataError,
                 "functional_forward: expected ", arch.num_params(), " weights, got ", flat_weights.numel());
  torch::Tensor h = x;
  for (const auto& l : arch.layers()) {
    switch (l.kind) {
      case LayerKind::kConv:
      case LayerKind::kLinear: {
        auto w = flat_weights.narrow(0, l.weight_offset, l.weight_numel()).view(l.weight_shape());
        torch::Tensor b = l.bias ? flat_weights.narrow(0, l.bias_offset, l.out) : torch::Tensor();
        h = l.kind == LayerKind::kConv ? torch::conv2d(h, w, b) : torch::linear(h, w, b);
        break;
      }
      case LayerKind::kMaxPool: h = torch::max_pool2d(h, l.kernel); break;
      case LayerKind::kAvgPool: h = torch::avg_pool2d(h, l.kernel); break;
      case LayerKind::kAct: h = apply_activation(h, activation); break;
      case LayerKind::kFlatten: h = h.flatten(1); break;
      case LayerKind::kDropout: break;
    }
  }
  return h;
}

}  // namespace hyperrep::zoo
