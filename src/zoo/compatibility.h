// Whether weights of one architecture can be read as another's: what an encoder trained on one
// zoo needs to embed members of another (the paper's transfer from seed to hyper-parameter zoos).
#pragma once

#include <string>
#include <vector>

#include "zoo/architecture.h"

namespace hyperrep::zoo {

struct ArchitectureComparison {
  // The same parameter layers in the same order: kind, sizes, kernel, stride, padding and bias
  // (so the same flat layout and the same neuron tokens, and convolutions that mean the same).
  bool same_parameters = true;
  // One line per difference, the parameter-free layers (act, dropout, pools, gap, flatten) and the
  // input shape included; empty when the two are identical.
  std::vector<std::string> differences;
};

// a is the reference (the run's zoo), b the other.
ArchitectureComparison compare_architectures(const Architecture& a, const Architecture& b);

}  // namespace hyperrep::zoo
