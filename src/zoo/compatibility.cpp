#include "zoo/compatibility.h"

#include <algorithm>

namespace hyperrep::zoo {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return "[" + s + "]";
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return "[" + s + "]";
}

bool same_parameter_layer(const Layer& x, const Layer& y) {
  return x.kind == y.kind && x.in == y.in && x.out == y.out && x.kernel == y.kernel && x.stride == y.stride &&
         x.padding == y.padding && x.bias == y.bias;
}

}  // namespace

ArchitectureComparison compare_architectures(const Architecture& a, const Architecture& b) {
  ArchitectureComparison c;
  const auto& pa = a.param_layers();
  const auto& pb = b.param_layers();
  if (pa.size() != pb.size()) {
    c.same_parameters = false;
    c.differences.push_back("parameter layers: " + std::to_string(pa.size()) + " vs " + std::to_string(pb.size()));
  }
  for (size_t i = 0; i < std::min(pa.size(), pb.size()); ++i) {
    if (same_parameter_layer(a.layers()[pa[i]], b.layers()[pb[i]])) continue;
    c.same_parameters = false;
    c.differences.push_back("parameter layer " + std::to_string(i) + ": " + a.spec()[pa[i]] + " vs " + b.spec()[pb[i]]);
  }
  if (a.spec() != b.spec()) c.differences.push_back("layers: " + join(a.spec()) + " vs " + join(b.spec()));
  if (a.input_shape() != b.input_shape())
    c.differences.push_back("input shape: " + join(a.input_shape()) + " vs " + join(b.input_shape()));
  return c;
}

}  // namespace hyperrep::zoo
