// Shared helpers of the zoo store tests: a small header, deterministic member records and
// scratch directories.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "store/store.h"
#include "tests/support/temp_dir.h"

namespace hyperrep::testing {

// flatten, linear(4,3), act, linear(3,2,nobias): 12 + 3 + 6 = 21 parameters.
inline store::ZooHeader small_header() {
  store::ZooHeader h;
  h.architecture = {"flatten", "linear(4,3)", "act", "linear(3,2,nobias)"};
  h.input_shape = {4};
  h.num_params = 21;
  h.task = "unit";
  h.numeric_properties = {"test_acc", "epoch", "lr"};
  h.categorical_properties = {"activation"};
  h.config_toml = "[zoo]\nnum_seeds = 5\n";
  return h;
}

// Member m keeps epochs {0, 2, 5} (member 1 only {0, 5}); weights and properties are closed
// forms of (m, epoch, j) so every test can recompute them.
inline float weight_value(int64_t m, int64_t epoch, int64_t j) { return static_cast<float>(m) + 0.125f * epoch - 0.01f * j; }
inline double test_acc(int64_t m, int64_t epoch) { return 0.1 * m + 0.01 * epoch + 1.0 / 3.0; }
inline std::vector<int64_t> epochs_of(int64_t m) { return m == 1 ? std::vector<int64_t>{0, 5} : std::vector<int64_t>{0, 2, 5}; }
inline std::string activation_of(int64_t m) { return m % 2 ? "relu" : "tanh, \"scaled\""; }

inline store::MemberRecord make_record(int64_t m, int64_t L = 21) {
  store::MemberRecord r;
  r.member = m;
  r.epochs = epochs_of(m);
  r.weights = torch::empty({static_cast<int64_t>(r.epochs.size()), L});
  auto a = r.weights.accessor<float, 2>();
  for (size_t e = 0; e < r.epochs.size(); ++e) {
    for (int64_t j = 0; j < L; ++j) a[e][j] = weight_value(m, r.epochs[e], j);
    r.numeric.push_back({{"test_acc", test_acc(m, r.epochs[e])}, {"lr", 1e-3 * (m + 1)}, {"epoch", double(r.epochs[e])}});
  }
  r.categorical = {{"activation", activation_of(m)}};
  return r;
}

class ScratchDir : public TempDir {
 public:
  ScratchDir() : TempDir("hyperrep_zoo") {}
  std::string zoo(const std::string& name = "zoo") const { return path() + "/" + name; }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline void append_bytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << data;
}

}  // namespace hyperrep::testing
