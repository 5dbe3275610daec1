// A small, bounds-checked unpickler for the subset of pickle protocol 2 that torch.save uses for
// state_dicts (OrderedDict, _rebuild_tensor_v2, typed storages as persistent ids). Anything else
// (other opcodes or globals) is rejected with a DataError that names the source and the culprit.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hyperrep::interop {

struct PickleValue;
using PickleValuePtr = std::shared_ptr<PickleValue>;

enum class PickleKind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor };

struct PickleValue {
  PickleKind kind = PickleKind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;                                                // string; global "module.name"
  std::vector<PickleValuePtr> items;                               // tuple, list
  std::vector<std::pair<PickleValuePtr, PickleValuePtr>> entries;  // dict, in insertion order
  // dict: string key -> its entry. An ordered map, not a hash table: keys come from the file, and
  // an unkeyed hash lets a crafted file put every key in one bucket (quadratic again); the tree
  // costs O(log n) comparisons per insert whatever the keys.
  std::map<std::string, size_t> key_index;
  torch::Tensor tensor;  // storage (1-D, numel elements) or tensor

  PickleValue() = default;
  PickleValue(const PickleValue&) = delete;
  PickleValue& operator=(const PickleValue&) = delete;
  // Releases nested containers iteratively, so a hostile, deeply nested pickle cannot overflow
  // the stack when its value tree is destroyed.
  ~PickleValue();

  static PickleValuePtr make(PickleKind kind) {
    auto v = std::make_shared<PickleValue>();
    v->kind = kind;
    return v;
  }
};

const char* pickle_kind_name(PickleKind kind);

// Resolves a persistent id ('storage', <storage global>, key, location, numel) to the storage's
// data: called with the dtype taken from the storage global, the key and numel; returns a 1-D
// tensor of numel elements. Throws DataError when the record is missing or has the wrong size.
using StorageLoader = std::function<torch::Tensor(c10::ScalarType dtype, const std::string& key, int64_t numel)>;

// Work done by one unpickle, for tests that bound it by counts rather than time.
struct UnpickleStats {
  int64_t key_probes = 0;          // look-ups of dict keys (one per SETITEM of a string key)
  int64_t storage_bytes = 0;       // bytes of the storages loaded
  int64_t materialized_bytes = 0;  // bytes of the tensors rebuilt from them
};

// Unpickles data (named `source` in errors). Storages with the same key are loaded once and
// shared, as torch does; tensors are rebuilt from (storage, offset, size, stride) with bounds
// checks and returned as contiguous copies. Time is O(n log n) in the input, and memory bounded by a
// small multiple of it: a tensor with more elements than its storage (zero or overlapping
// strides) is refused before anything is allocated, and so are rebuilt tensors past
// kMaxMaterializeFactor times the pickle and storage bytes (plus 1 MiB).
inline constexpr int64_t kMaxMaterializeFactor = 8;
PickleValuePtr unpickle(const std::string& data, const std::string& source, const StorageLoader& load_storage,
                        UnpickleStats* stats = nullptr);

}  // namespace hyperrep::interop
