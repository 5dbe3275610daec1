#include "common/layer_spec.h"

#include <cctype>

#include "common/error.h"
#include "common/format.h"

namespace hyperrep {
namespace {

constexpr const char* kBlanks = " \t";  // what may surround a layer and its arguments

// Integer arguments each layer takes, and whether it accepts the nobias flag and the stride= and
// padding= options (conv only).
struct Arity {
  const char* name;
  size_t ints;
  bool nobias;
  bool options = false;
};
constexpr Arity kArities[] = {{"conv", 3, true, true}, {"linear", 2, true}, {"maxpool", 1, false}, {"avgpool", 1, false},
                              {"gap", 0, false},       {"act", 0, false},   {"flatten", 0, false}, {"dropout", 0, false}};

// A positive integer of at most nine digits (kMaxLayerArgument fits), or -1.
int64_t positive_integer(const std::string& a) {
  bool digits = !a.empty() && a.size() <= 9;
  for (char c : a) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  return digits ? std::stoll(a) : -1;
}

}  // namespace

LayerSpec parse_layer_spec(const std::string& text) {
  const std::string t = trim(text, kBlanks);
  auto fail = [&](auto... why) {
    HYPERREP_THROW(ConfigError, "bad layer '", text, "': ", why..., " (expected ", kLayerGrammar, ")");
  };
  size_t i = 0;
  while (i < t.size() && (std::isalnum(static_cast<unsigned char>(t[i])) || t[i] == '_')) ++i;
  LayerSpec spec;
  spec.name = t.substr(0, i);
  const Arity* arity = nullptr;
  for (const auto& a : kArities)
    if (spec.name == a.name) arity = &a;
  if (!arity) fail("unknown layer '", spec.name, "'");
  std::vector<std::string> args;
  const std::string rest = trim(t.substr(i), kBlanks);
  if (!rest.empty()) {
    if (rest.front() != '(' || rest.back() != ')' || rest.find_first_of("()", 1) != rest.size() - 1) fail("malformed arguments");
    const std::string inner = rest.substr(1, rest.size() - 2);
    size_t start = 0;
    while (true) {
      const size_t comma = inner.find(',', start);
      args.push_back(trim(inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start), kBlanks));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (args.size() == 1 && args[0].empty()) args.clear();
  }
  // Flags and options follow the sizes, in any order, each at most once.
  std::string padding;
  bool stride_given = false;
  while (args.size() > arity->ints) {
    const std::string a = args.back();
    const size_t eq = a.find('=');
    const std::string key = trim(a.substr(0, eq), kBlanks),
                      value = eq == std::string::npos ? "" : trim(a.substr(eq + 1), kBlanks);
    if (a == "nobias" && arity->nobias && spec.bias) {
      spec.bias = false;
    } else if (eq != std::string::npos && key == "stride" && arity->options && !stride_given) {
      spec.stride = positive_integer(value);
      if (spec.stride < 1 || spec.stride > kMaxLayerArgument) fail("stride '", value, "' is not a positive integer");
      stride_given = true;
    } else if (eq != std::string::npos && key == "padding" && arity->options && padding.empty()) {
      padding = value.empty() ? "?" : value;
    } else {
      break;
    }
    args.pop_back();
  }
  if (args.size() != arity->ints)
    fail(spec.name, " takes ", arity->ints, " size", arity->ints == 1 ? "" : "s",
         arity->options ? " then stride=S, padding=valid|same|N or nobias" : (arity->nobias ? " then nobias" : ""), ", got '",
         rest, "'");
  for (const auto& a : args) {
    const int64_t v = positive_integer(a);
    if (v < 0) fail("'", a, "' is not a positive integer");
    if (v < 1 || v > kMaxLayerArgument) fail("size ", a, " is outside 1..", kMaxLayerArgument);
    spec.ints.push_back(v);
  }
  if (padding == "same") {
    const int64_t k = spec.ints[2];
    // Symmetric 'same' exists for odd kernels at stride 1; TensorFlow's stride-2 'same' pads
    // unevenly, which this grammar does not describe.
    if (k % 2 == 0 || spec.stride != 1)
      fail("padding=same needs an odd kernel and stride 1 (symmetric); give padding=N for explicit zeros");
    spec.padding = (k - 1) / 2;
  } else if (!padding.empty() && padding != "valid") {
    const int64_t v = positive_integer(padding);
    if (v < 0 || v > kMaxLayerArgument) fail("padding '", padding, "' is not valid, same or a non-negative integer");
    spec.padding = v;
  }
  return spec;
}

}  // namespace hyperrep
