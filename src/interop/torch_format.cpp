#include "interop/torch_format.h"

#include <map>
#include <set>

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"

namespace hyperrep::interop {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  return os.str() + "]";
}

// The first bytes tell the zip format (torch >= 1.6) from the legacy pickle stream.
void check_zip_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  HYPERREP_CHECK(in.good(), IoError, "cannot open '", path, "'");
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  HYPERREP_CHECK(in.gcount() == 4, DataError, path, ": too short for a torch.save file");
  if (std::memcmp(magic, "PK\x03\x04", 4) == 0) return;
  if (static_cast<uint8_t>(magic[0]) == 0x80 && static_cast<uint8_t>(magic[1]) == 0x02) {
    HYPERREP_THROW(DataError, path,
                   ": legacy torch.save format (before PyTorch 1.6, or _use_new_zipfile_serialization=False) is not "
                   "supported; re-save it with torch.save in PyTorch >= 1.6");
  }
  HYPERREP_THROW(DataError, path, ": not a torch.save zip archive");
}

int64_t element_size(c10::ScalarType t) { return static_cast<int64_t>(c10::elementSize(t)); }

// Emits the pickle (protocol 2) that Python's torch.save writes for a plain dict of tensors,
// byte for byte, memo numbering included: tensors reduce to torch._utils._rebuild_tensor_v2
// (storage as the persistent id ('storage', torch.<T>Storage, key, 'cpu', numel), offset 0,
// size, stride, False, OrderedDict()). Only allowlisted globals appear, so torch.load with
// weights_only=True (the default since PyTorch 2.6) reads it.
class StateDictPickler {
 public:
  std::string run(const NamedTensors& tensors) {
    out_ += "\x80\x02";
    out_ += '}';
    put();
    auto item = [&](size_t i) {
      str(tensors[i].first, nullptr);
      tensor(tensors[i].second, std::to_string(i));
    };
    // CPython's _pickle batch_dict_exact: one item -> SETITEM; else MARK..SETITEMS per 1000
    // items, repeated while a batch was full (so exactly 1000 items end in an empty batch).
    if (tensors.size() == 1) {
      item(0);
      out_ += 's';
    } else if (!tensors.empty()) {
      size_t i = 0, n = 0;
      do {
        out_ += '(';
        for (n = 0; n < 1000 && i < tensors.size(); ++n) item(i++);
        out_ += 'u';
      } while (n == 1000);
    }
    out_ += '.';
    return out_;
  }

 private:
  void put() {
    const uint32_t idx = next_++;
    if (idx < 256) {
      out_ += 'q';
      out_ += static_cast<char>(idx);
    } else {
      out_ += 'r';
      le32(idx);
    }
  }
  void get(uint32_t idx) {
    if (idx < 256) {
      out_ += 'h';
      out_ += static_cast<char>(idx);
    } else {
      out_ += 'j';
      le32(idx);
    }
  }
  void le32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  // A string, memoized; `shared` remembers the memo slot of a string object pickle sees again.
  void str(const std::string& s, int64_t* shared) {
    if (shared && *shared >= 0) return get(static_cast<uint32_t>(*shared));
    out_ += 'X';
    le32(static_cast<uint32_t>(s.size()));
    out_ += s;
    if (shared) *shared = next_;
    put();
  }
  void global(const std::string& module, const std::string& name, int64_t* slot) {
    if (*slot >= 0) return get(static_cast<uint32_t>(*slot));
    out_ += 'c' + module + "\n" + name + "\n";
    *slot = next_;
    put();
  }
  void integer(int64_t v) {
    if (v >= 0 && v <= 0xff) {
      out_ += 'K';
      out_ += static_cast<char>(v);
    } else if (v >= 0 && v <= 0xffff) {
      out_ += 'M';
      out_ += static_cast<char>(v & 0xff);
      out_ += static_cast<char>(v >> 8);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += 'J';
      le32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1, two's complement, shortest
      std::string b;
      int64_t x = v;
      do {
        b += static_cast<char>(x & 0xff);
        x >>= 8;
      } while (!((x == 0 && !(b.back() & 0x80)) || (x == -1 && (b.back() & 0x80))));
      out_ += '\x8a';
      out_ += static_cast<char>(b.size());
      out_ += b;
    }
  }
  void int_tuple(at::IntArrayRef v) {
    if (v.empty()) {
      out_ += ')';
      return;
    }
    if (v.size() > 3) out_ += '(';
    for (auto x : v) integer(x);
    out_ += v.size() > 3 ? 't' : static_cast<char>(0x84 + v.size());
    put();
  }
  void tensor(const torch::Tensor& t, const std::string& key) {
    const char* storage = nullptr;
    switch (t.scalar_type()) {
      case torch::kFloat: storage = "FloatStorage"; break;
      case torch::kDouble: storage = "DoubleStorage"; break;
      case torch::kHalf: storage = "HalfStorage"; break;
      case torch::kLong: storage = "LongStorage"; break;
      default: HYPERREP_THROW(InternalError, "write_state_dict: unsupported dtype ", t.scalar_type());
    }
    global("torch._utils", "_rebuild_tensor_v2", &rebuild_);
    out_ += "((";
    str("storage", &storage_str_);
    global("torch", storage, &storage_types_.emplace(storage, -1).first->second);
    str(key, nullptr);
    str("cpu", &cpu_);
    integer(t.numel());
    out_ += 't';
    put();
    out_ += 'Q';
    integer(0);
    int_tuple(t.sizes());
    int_tuple(t.strides());
    out_ += '\x89';
    global("collections", "OrderedDict", &ordered_dict_);
    out_ += ")R";
    put();
    out_ += 't';
    put();
    out_ += 'R';
    put();
  }

  std::string out_;
  uint32_t next_ = 0;
  int64_t rebuild_ = -1, storage_str_ = -1, cpu_ = -1, ordered_dict_ = -1;
  std::map<std::string, int64_t> storage_types_;
};

}  // namespace

PickleValuePtr read_torch_pickle(const std::string& path) {
  check_zip_magic(path);
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (reader.hasRecord("byteorder")) {
      auto [ptr, n] = reader.getRecord("byteorder");
      const std::string order(static_cast<const char*>(ptr.get()), n);
      HYPERREP_CHECK(order == "little", DataError, path, ": byte order '", order, "' is not supported");
    }
    HYPERREP_CHECK(reader.hasRecord("data.pkl"), DataError, path, ": no data.pkl record (not a torch.save file?)");
    auto [pkl_ptr, pkl_size] = reader.getRecord("data.pkl");
    const std::string pkl(static_cast<const char*>(pkl_ptr.get()), pkl_size);
    StorageLoader load = [&](c10::ScalarType dtype, const std::string& key, int64_t numel) {
      const std::string name = "data/" + key;
      HYPERREP_CHECK(key.find('/') == std::string::npos && reader.hasRecord(name), DataError, path, ": missing storage record '",
                     name, "'");
      auto [ptr, n] = reader.getRecord(name);
      const int64_t expected = numel * element_size(dtype);
      HYPERREP_CHECK(static_cast<int64_t>(n) == expected, DataError, path, ": storage record '", name, "' has ", n,
                     " bytes, expected ", expected, " (", numel, " x ", c10::toString(dtype), ")");
      auto t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
      if (n > 0) std::memcpy(t.data_ptr(), ptr.get(), n);
      return t;
    };
    return unpickle(pkl, path + ":data.pkl", load);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // c10::Error from the zip reader: keep its first line, which says what failed.
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    HYPERREP_THROW(DataError, path, ": unreadable torch.save archive: ", what);
  }
}

torch::Tensor weight_values(const std::string& key, const torch::Tensor& t) {
  // One rule for every import path: weights are floating point (any width, read as float32); an
  // integer or bool tensor under a weight's key is not a network's weights and is refused.
  HYPERREP_CHECK(t.is_floating_point(), DataError, "state_dict tensor '", key, "' is ", c10::toString(t.scalar_type()),
                 ", not floating point: not the weights of a network");
  return t.reshape({-1}).to(torch::kFloat);
}

NamedTensors read_state_dict(const std::string& path) {
  auto root = read_torch_pickle(path);
  HYPERREP_CHECK(root->kind == PickleKind::kDict, DataError, path, ": holds a ", pickle_kind_name(root->kind),
                 ", not a state_dict");
  auto is_tensor_dict = [](const PickleValuePtr& d) {
    if (d->kind != PickleKind::kDict) return false;
    for (const auto& [k, v] : d->entries)
      if (k->kind != PickleKind::kString || v->kind != PickleKind::kTensor) return false;
    return true;
  };
  PickleValuePtr dict = root;
  if (!is_tensor_dict(root)) {
    dict = nullptr;
    for (const auto& [k, v] : root->entries) {
      if (k->kind == PickleKind::kString && (k->text == "state_dict" || k->text == "model_state_dict" || k->text == "model") &&
          is_tensor_dict(v)) {
        dict = v;
        break;
      }
    }
    std::vector<std::string> keys;
    for (const auto& [k, v] : root->entries)
      keys.push_back((k->kind == PickleKind::kString ? "'" + k->text + "'" : pickle_kind_name(k->kind)) + ": " +
                     pickle_kind_name(v->kind));
    HYPERREP_CHECK(dict, DataError, path, ": not a state_dict of tensors (entries ", quote_few(keys),
                   ") and no tensor dict under 'state_dict', 'model_state_dict' or 'model'");
  }
  NamedTensors out;
  for (const auto& [k, v] : dict->entries) out.emplace_back(k->text, v->tensor);
  return out;
}

void write_state_dict(const std::string& path, const NamedTensors& tensors) {
  NamedTensors cpu;
  for (const auto& [name, t] : tensors) {
    HYPERREP_CHECK(t.defined(), InternalError, "write_state_dict: tensor '", name, "' is undefined");
    for (const auto& [other, u] : cpu)
      HYPERREP_CHECK(other != name, InternalError, "write_state_dict: duplicate key '", name, "'");
    cpu.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
  }
  const std::string pkl = StateDictPickler().run(cpu);
  // Storage records in Python's sorted(key) order: "0", "1", "10", "11", ..., "2", ...
  std::vector<std::string> keys;
  for (size_t i = 0; i < cpu.size(); ++i) keys.push_back(std::to_string(i));
  std::sort(keys.begin(), keys.end());
  std::string bytes;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&bytes](const void* p, size_t n) {
      bytes.append(static_cast<const char*>(p), n);
      return n;
    });
    writer.writeRecord("data.pkl", pkl.data(), pkl.size());
    for (const auto& key : keys) {
      const auto& t = cpu[std::stoul(key)].second;
      writer.writeRecord("data/" + key, t.data_ptr(), static_cast<size_t>(t.numel() * t.element_size()));
    }
    writer.writeEndOfFile();
  }
  write_file_atomic(path, bytes);
}

NamedTensors state_dict_from_flat(const zoo::Architecture& arch, const torch::Tensor& flat) {
  HYPERREP_CHECK(flat.dim() == 1 && flat.numel() == arch.num_params(), DataError, "state_dict_from_flat: expected ",
                 arch.num_params(), " weights, got shape ", shape_str(flat.sizes()));
  auto w = flat.detach().to(torch::kCPU).contiguous();
  NamedTensors out;
  for (auto i : arch.param_layers()) {
    const auto& l = arch.layers()[i];
    const std::string prefix = std::to_string(l.sequential_index) + ".";
    out.emplace_back(prefix + "weight", w.narrow(0, l.weight_offset, l.weight_numel()).view(l.weight_shape()).clone());
    if (l.bias) out.emplace_back(prefix + "bias", w.narrow(0, l.bias_offset, l.out).clone());
  }
  return out;
}

torch::Tensor flat_from_state_dict(const zoo::Architecture& arch, const NamedTensors& sd) {
  const auto expected = state_dict_from_flat(arch, torch::zeros({arch.num_params()}));
  std::vector<std::string> missing, unexpected, mismatched;
  auto flat = torch::empty({arch.num_params()}, torch::kFloat);
  int64_t offset = 0;
  std::map<std::string, const torch::Tensor*> by_key;  // the last of a repeated key; ordered: keys come from a file
  for (const auto& [k, t] : sd) by_key[k] = &t;
  std::set<std::string> known;
  for (const auto& [key, proto] : expected) {
    known.insert(key);
    const auto it = by_key.find(key);
    if (it == by_key.end()) {
      missing.push_back(key);
    } else if (it->second->sizes() != proto.sizes()) {
      mismatched.push_back(key + " " + shape_str(it->second->sizes()) + " (expected " + shape_str(proto.sizes()) + ")");
    } else {
      flat.narrow(0, offset, proto.numel()).copy_(weight_values(key, *it->second));
    }
    offset += proto.numel();
  }
  for (const auto& [k, t] : sd)
    if (!known.count(k)) unexpected.push_back(k);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    auto join = [](const std::vector<std::string>& v) { return v.empty() ? std::string("none") : quote_few(v); };
    HYPERREP_THROW(DataError, "state_dict does not match the architecture: missing keys: ", join(missing),
                   "; unexpected keys: ", join(unexpected), "; shape mismatches: ", join(mismatched));
  }
  return flat;
}

torch::Tensor flat_from_state_dict_by_order(const zoo::Architecture& arch, const NamedTensors& sd) {
  const auto expected = state_dict_from_flat(arch, torch::zeros({arch.num_params()}));
  HYPERREP_CHECK(sd.size() == expected.size(), DataError, "state_dict has ", sd.size(), " tensors, the architecture has ",
                 expected.size(), " parameter tensors");
  auto flat = torch::empty({arch.num_params()}, torch::kFloat);
  int64_t offset = 0;
  for (size_t i = 0; i < sd.size(); ++i) {
    const auto& [key, t] = sd[i];
    const auto& [want, proto] = expected[i];
    HYPERREP_CHECK(t.sizes() == proto.sizes(), DataError, "state_dict tensor ", i, " '", key, "' has shape ",
                   shape_str(t.sizes()), ", but parameter '", want, "' has shape ", shape_str(proto.sizes()));
    flat.narrow(0, offset, proto.numel()).copy_(weight_values(key, t));
    offset += proto.numel();
  }
  return flat;
}

}  // namespace hyperrep::interop
