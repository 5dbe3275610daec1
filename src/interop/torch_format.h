// PyTorch state_dict files for model zoos: reading what Python's torch.save wrote (zip format,
// torch >= 1.6) without Python, writing files Python's torch.load reads, and mapping between our
// flat weight vectors and the keys of the equivalent torch.nn.Sequential (docs/export.md).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "interop/unpickler.h"
#include "zoo/architecture.h"

namespace hyperrep::interop {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Unpickles `<archive>/data.pkl` of a torch.save zip file, loading storages from
// `<archive>/data/<key>`. Throws DataError naming the file for a bad or truncated archive, the
// legacy (pre-1.6) format, unsupported pickle content, or a storage of the wrong size.
PickleValuePtr read_torch_pickle(const std::string& path);

// The state_dict in a torch.save file, in file order, tensors as contiguous CPU copies. Accepts a
// dict of tensors, or a dict holding one under "state_dict", "model_state_dict" or "model".
NamedTensors read_state_dict(const std::string& path);

// Writes tensors (float32/64/16 or int64, as contiguous CPU copies) atomically as the file Python's
// `torch.save(dict_of_tensors, "archive.pt")` writes (torch 1.13-2.0 layout): a plain dict, so
// torch::pickle_load reads it too, and only globals that torch.load's weights_only=True
// allowlist accepts (torch::pickle_save's restore_type_tag is not among them).
// Python: `sd = torch.load(path); net.load_state_dict(sd)`.
void write_state_dict(const std::string& path, const NamedTensors& tensors);

// A state_dict tensor as weights: float32 [numel]; DataError naming key and dtype for an integer
// or bool tensor (the one rule of both import paths below).
torch::Tensor weight_values(const std::string& key, const torch::Tensor& t);

// Keys "<sequential_index>.weight" / ".bias" with weight_shape() / [out], in flat order.
NamedTensors state_dict_from_flat(const zoo::Architecture& arch, const torch::Tensor& flat);

// Strict inverse: every key of state_dict_from_flat must be present with its shape and no other
// key may be; the error lists missing and unexpected keys and shape mismatches. Returns float32 [L].
torch::Tensor flat_from_state_dict(const zoo::Architecture& arch, const NamedTensors& sd);

// For models whose modules are named differently (e.g. "module_list.0.weight"): takes the
// tensors in file order and assigns them to the architecture's parameter blocks in flat order.
// The count and every shape must match; errors name the file key and the expected key.
torch::Tensor flat_from_state_dict_by_order(const zoo::Architecture& arch, const NamedTensors& sd);

}  // namespace hyperrep::interop
