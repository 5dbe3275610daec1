// The layer grammar of [zoo] architecture (conv(in,out,k[,stride=S][,padding=P][,nobias]),
// linear(in,out[,nobias]), maxpool(k), avgpool(k), gap, act, flatten, dropout): one parser, used by the config check and by
// zoo::Architecture, so that what `config check` passes is what generation reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hyperrep {

struct LayerSpec {
  std::string name;           // conv, linear, maxpool, avgpool, gap, act, flatten, dropout
  std::vector<int64_t> ints;  // the integer arguments in order, each in [1, kMaxLayerArgument]
  bool bias = true;           // false with the nobias flag (conv, linear)
  // conv only: stride=S (default 1) and padding=valid (0, the default), padding=same (symmetric
  // (k-1)/2 zeros; only where it exists: odd k and stride 1) or padding=N zeros on every side.
  int64_t stride = 1;
  int64_t padding = 0;
};

// Largest size one layer argument may have (channels, features, kernel).
inline constexpr int64_t kMaxLayerArgument = int64_t{1} << 24;

// Parses one layer; throws ConfigError saying what is wrong with the text (unknown layer, missing
// or extra arguments, non-integer or non-positive sizes).
LayerSpec parse_layer_spec(const std::string& text);

// The grammar in words, for error messages and docs.
inline constexpr const char* kLayerGrammar =
    "conv(in,out,k[,stride=S][,padding=valid|same|N][,nobias]), linear(in,out[,nobias]), maxpool(k), avgpool(k), gap, act, "
    "flatten or dropout";

}  // namespace hyperrep
