// The named choices of the config as enums, each with one table of names. The config schema
// offers a table's names as the field's choices (common/config_sections.cpp) and the engine
// parses a field once, where it is first used, with the same table: no string is compared
// inside a training loop, and a name is known in exactly one place.
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace hyperrep {

enum class Task { kTetris, kFashionMnist, kIdx };
enum class Activation { kTanh, kRelu, kSigmoid, kGelu, kLeakyRelu, kSelu, kElu };
enum class Init {
  kUniform,
  kNormal,
  kKaimingUniform,
  kKaimingNormal,
  kXavierUniform,
  kXavierNormal,
  kTruncatedNormal,
  kOrthogonal
};
enum class ZooOptimizer { kAdam, kSgd, kRmsProp };  // zoo.optimizer: the members' optimizer
enum class Optimizer { kAdam, kAdamW, kSgd };       // train.optimizer: the autoencoder's
enum class Scheduler { kNone, kPlateau, kCosine };
enum class Reconstruction { kMse, kLayerNorm };  // loss.reconstruction
enum class Tokenizer { kNeuron, kPadded };
enum class Standardize { kNone, kLayer };
enum class Precision { kFp32, kBf16 };
enum class Backend { kAuto, kLocal, kMpi, kNccl };

// EnumNames<E>::table lists (value, name) in the order the documentation shows them.
template <typename E>
struct EnumNames;

#define HYPERREP_ENUM_NAMES(E, N, ...)                                              \
  template <>                                                                       \
  struct EnumNames<E> {                                                             \
    static constexpr std::array<std::pair<E, const char*>, N> table{{__VA_ARGS__}}; \
  }

HYPERREP_ENUM_NAMES(Task, 3, {Task::kTetris, "tetris"}, {Task::kFashionMnist, "fashion_mnist"}, {Task::kIdx, "idx"});
HYPERREP_ENUM_NAMES(Activation, 7, {Activation::kTanh, "tanh"}, {Activation::kRelu, "relu"}, {Activation::kSigmoid, "sigmoid"},
                    {Activation::kGelu, "gelu"}, {Activation::kLeakyRelu, "leaky_relu"}, {Activation::kSelu, "selu"},
                    {Activation::kElu, "elu"});
HYPERREP_ENUM_NAMES(Init, 8, {Init::kUniform, "uniform"}, {Init::kNormal, "normal"}, {Init::kKaimingUniform, "kaiming_uniform"},
                    {Init::kKaimingNormal, "kaiming_normal"}, {Init::kXavierUniform, "xavier_uniform"},
                    {Init::kXavierNormal, "xavier_normal"}, {Init::kTruncatedNormal, "truncated_normal"},
                    {Init::kOrthogonal, "orthogonal"});
HYPERREP_ENUM_NAMES(ZooOptimizer, 3, {ZooOptimizer::kAdam, "adam"}, {ZooOptimizer::kSgd, "sgd"},
                    {ZooOptimizer::kRmsProp, "rmsprop"});
HYPERREP_ENUM_NAMES(Optimizer, 3, {Optimizer::kAdam, "adam"}, {Optimizer::kAdamW, "adamw"}, {Optimizer::kSgd, "sgd"});
HYPERREP_ENUM_NAMES(Scheduler, 3, {Scheduler::kNone, "none"}, {Scheduler::kPlateau, "plateau"}, {Scheduler::kCosine, "cosine"});
HYPERREP_ENUM_NAMES(Reconstruction, 2, {Reconstruction::kMse, "mse"}, {Reconstruction::kLayerNorm, "layer_norm"});
HYPERREP_ENUM_NAMES(Tokenizer, 2, {Tokenizer::kNeuron, "neuron"}, {Tokenizer::kPadded, "padded"});
HYPERREP_ENUM_NAMES(Standardize, 2, {Standardize::kNone, "none"}, {Standardize::kLayer, "layer"});
HYPERREP_ENUM_NAMES(Precision, 2, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"});
HYPERREP_ENUM_NAMES(Backend, 4, {Backend::kAuto, "auto"}, {Backend::kLocal, "local"}, {Backend::kMpi, "mpi"},
                    {Backend::kNccl, "nccl"});
#undef HYPERREP_ENUM_NAMES

// The names, for a config field's choices and for messages.
template <typename E>
std::vector<std::string> enum_names() {
  std::vector<std::string> out;
  for (const auto& [value, name] : EnumNames<E>::table) out.emplace_back(name);
  return out;
}

template <typename E>
const char* enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::table) {
    if (v == value) return name;
  }
  HYPERREP_THROW(InternalError, "an enum value without a name");
}

// The value named `name`; ConfigError "<key>: unknown '<name>' (a, b, c)" otherwise. The config
// check refuses unknown names before the engine runs, so this fires only for configs built in code.
template <typename E>
E parse_enum(const std::string& name, const char* key) {
  for (const auto& [value, n] : EnumNames<E>::table) {
    if (name == n) return value;
  }
  std::string all;
  for (const auto& n : enum_names<E>()) all += (all.empty() ? "" : ", ") + n;
  HYPERREP_THROW(ConfigError, key, ": unknown '", name, "' (", all, ")");
}

}  // namespace hyperrep
