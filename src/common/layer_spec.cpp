#include "common/layer_spec.h"

#include <cctype>

#include "common/error.h"

namespace hyperrep {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Integer arguments each layer takes, and whether it accepts the nobias flag.
struct Arity {
  const char* name;
  size_t ints;
  bool nobias;
};
constexpr Arity kArities[] = {{"conv", 3, true}, {"linear", 2, true},   {"maxpool", 1, false}, {"avgpool", 1, false},
                              {"act", 0, false}, {"flatten", 0, false}, {"dropout", 0, false}};

}  // namespace

LayerSpec parse_layer_spec(const std::string& text) {
  const std::string t = trim(text);
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
  const std::string rest = trim(t.substr(i));
  if (!rest.empty()) {
    if (rest.front() != '(' || rest.back() != ')' || rest.find_first_of("()", 1) != rest.size() - 1) fail("malformed arguments");
    const std::string inner = rest.substr(1, rest.size() - 2);
    size_t start = 0;
    while (true) {
      const size_t comma = inner.find(',', start);
      args.push_back(trim(inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (args.size() == 1 && args[0].empty()) args.clear();
  }
  if (arity->nobias && args.size() == arity->ints + 1 && args.back() == "nobias") {
    spec.bias = false;
    args.pop_back();
  }
  if (args.size() != arity->ints)
    fail(spec.name, " takes ", arity->ints, " size", arity->ints == 1 ? "" : "s", ", got ", args.size());
  for (const auto& a : args) {
    bool digits = !a.empty() && a.size() <= 9;
    for (char c : a) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits) fail("'", a, "' is not a positive integer");
    const int64_t v = std::stoll(a);
    if (v < 1 || v > kMaxLayerArgument) fail("size ", a, " is outside 1..", kMaxLayerArgument);
    spec.ints.push_back(v);
  }
  return spec;
}

}  // namespace hyperrep
