#include "interop/unpickler.h"

#include <cstring>
#include <map>
#include <sstream>

#include "common/error.h"

namespace hyperrep::interop {
namespace {

std::string opcode_name(uint8_t op) {
  std::ostringstream os;
  os << "0x" << std::hex << static_cast<int>(op);
  if (op >= 0x20 && op < 0x7f) os << " '" << static_cast<char>(op) << "'";
  return os.str();
}

// Storage globals torch writes (torch/storage.py _pickle_storage_type) and their dtypes.
bool storage_dtype(const std::string& global, c10::ScalarType* dtype) {
  static const std::map<std::string, c10::ScalarType> kStorages = {
      {"torch.FloatStorage", c10::kFloat},       {"torch.DoubleStorage", c10::kDouble}, {"torch.HalfStorage", c10::kHalf},
      {"torch.BFloat16Storage", c10::kBFloat16}, {"torch.LongStorage", c10::kLong},     {"torch.IntStorage", c10::kInt},
      {"torch.ShortStorage", c10::kShort},       {"torch.CharStorage", c10::kChar},     {"torch.ByteStorage", c10::kByte},
      {"torch.BoolStorage", c10::kBool}};
  auto it = kStorages.find(global);
  if (it == kStorages.end()) return false;
  *dtype = it->second;
  return true;
}

class Machine {
 public:
  Machine(const std::string& data, const std::string& source, const StorageLoader& load, UnpickleStats& stats)
      : data_(data), source_(source), load_(load), stats_(stats) {}

  PickleValuePtr run() {
    while (true) {
      const size_t at = pos_;
      const uint8_t op = u8();
      switch (op) {
        case 0x80: {  // PROTO
          const uint8_t proto = u8();
          check(proto >= 2 && proto <= 5, at, "unsupported pickle protocol ", int(proto));
          break;
        }
        case '.': {  // STOP
          check(stack_.size() == 1 && marks_.empty(), at, "STOP with ", stack_.size(), " values on the stack");
          return stack_.back();
        }
        case 'c': {  // GLOBAL module\nname\n
          std::string module = line(), name = line();
          push(global(module + "." + name, at));
          break;
        }
        case 'q': memo_[u8()] = top(at); break;            // BINPUT
        case 'r': memo_[u32()] = top(at); break;           // LONG_BINPUT
        case 'h': push(memo_get(u8(), at)); break;         // BINGET
        case 'j': push(memo_get(u32(), at)); break;        // LONG_BINGET
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case ')': push(PickleValue::make(PickleKind::kTuple)); break;
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = op - 0x84;
          check(stack_.size() >= n + base(), at, "tuple of ", n, " on a stack of ", stack_.size());
          auto t = PickleValue::make(PickleKind::kTuple);
          t->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(t);
          break;
        }
        case 't': {  // TUPLE
          auto t = PickleValue::make(PickleKind::kTuple);
          t->items = pop_mark(at);
          push(t);
          break;
        }
        case 'N': push(PickleValue::make(PickleKind::kNone)); break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
          auto b = PickleValue::make(PickleKind::kBool);
          b->boolean = op == 0x88;
          push(b);
          break;
        }
        case 'J': push_int(static_cast<int32_t>(u32())); break;  // BININT
        case 'K': push_int(u8()); break;                         // BININT1
        case 'M': push_int(u16()); break;                        // BININT2
        case 0x8a: {                                             // LONG1
          const uint8_t n = u8();
          check(n <= 8, at, "LONG1 of ", int(n), " bytes does not fit 64 bits");
          const std::string b = bytes(n);
          uint64_t v = 0;
          for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
          if (n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);
          push_int(static_cast<int64_t>(v));
          break;
        }
        case 'G': {  // BINFLOAT (big-endian double)
          const std::string b = bytes(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(b[i]);
          auto f = PickleValue::make(PickleKind::kFloat);
          std::memcpy(&f->real, &bits, 8);
          push(f);
          break;
        }
        case 'X': push_string(bytes(u32())); break;  // BINUNICODE
        case 0x8c: push_string(bytes(u8())); break;  // SHORT_BINUNICODE
        case '}': push(PickleValue::make(PickleKind::kDict)); break;
        case ']': push(PickleValue::make(PickleKind::kList)); break;
        case 's': {  // SETITEM
          check(stack_.size() >= 3 + base(), at, "SETITEM needs a dict, a key and a value");
          auto v = pop(at), k = pop(at);
          set_items(top(at), {k, v}, at);
          break;
        }
        case 'u': set_items(nullptr, pop_mark(at), at); break;  // SETITEMS
        case 'a': {                                             // APPEND
          auto v = pop(at);
          list_at(at)->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          auto vs = pop_mark(at);
          auto l = list_at(at);
          l->items.insert(l->items.end(), vs.begin(), vs.end());
          break;
        }
        case 'R': {  // REDUCE
          auto args = pop(at), fn = pop(at);
          push(reduce(fn, args, at));
          break;
        }
        case 'b': {  // BUILD: the OrderedDict's __dict__ (_metadata) carries no weights
          pop(at);
          top(at);
          break;
        }
        case 'Q': {  // BINPERSID
          auto pid = pop(at);
          push(persistent(pid, at));
          break;
        }
        default: fail(at, "unsupported pickle opcode ", opcode_name(op));
      }
    }
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail(size_t at, Args&&... args) const {
    HYPERREP_THROW(DataError, source_, ": ", std::forward<Args>(args)..., " (at byte ", at, ")");
  }
  template <typename... Args>
  void check(bool ok, size_t at, Args&&... args) const {
    if (!ok) fail(at, std::forward<Args>(args)...);
  }

  void need(size_t n) const {
    check(n <= data_.size() && pos_ <= data_.size() - n, pos_, "truncated pickle: needs ", n, " more bytes, has ",
          data_.size() - pos_);
  }
  uint8_t u8() {
    need(1);
    return static_cast<uint8_t>(data_[pos_++]);
  }
  uint32_t u16() {
    const uint32_t lo = u8();
    return lo | (static_cast<uint32_t>(u8()) << 8);
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(u8()) << (8 * i);
    return v;
  }
  std::string bytes(size_t n) {
    need(n);
    std::string s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string line() {
    const size_t end = data_.find('\n', pos_);
    check(end != std::string::npos && end - pos_ < 256, pos_, "truncated GLOBAL name");
    std::string s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PickleValuePtr v) { stack_.push_back(std::move(v)); }
  void push_int(int64_t i) {
    auto v = PickleValue::make(PickleKind::kInt);
    v->integer = i;
    push(v);
  }
  void push_string(std::string s) {
    auto v = PickleValue::make(PickleKind::kString);
    v->text = std::move(s);
    push(v);
  }
  PickleValuePtr pop(size_t at) {
    check(stack_.size() > base(), at, "pickle stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  const PickleValuePtr& top(size_t at) const {
    check(stack_.size() > base(), at, "pickle stack underflow");
    return stack_.back();
  }
  std::vector<PickleValuePtr> pop_mark(size_t at) {
    check(!marks_.empty(), at, "no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleValuePtr> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  PickleValuePtr memo_get(uint32_t key, size_t at) const {
    auto it = memo_.find(key);
    check(it != memo_.end(), at, "memo key ", key, " was never stored");
    return it->second;
  }
  PickleValuePtr list_at(size_t at) const {
    const auto& l = top(at);
    check(l->kind == PickleKind::kList, at, "APPEND to a ", pickle_kind_name(l->kind));
    return l;
  }
  void set_items(PickleValuePtr dict, const std::vector<PickleValuePtr>& kv, size_t at) {
    if (!dict) dict = top(at);
    check(dict->kind == PickleKind::kDict, at, "SETITEM on a ", pickle_kind_name(dict->kind));
    check(kv.size() % 2 == 0, at, "SETITEMS with an odd number of values");
    for (size_t i = 0; i < kv.size(); i += 2) {
      if (kv[i]->kind == PickleKind::kString) {  // the last value of a repeated key wins, in its first place
        ++stats_.key_probes;
        const auto [it, inserted] = dict->key_index.emplace(kv[i]->text, dict->entries.size());
        if (!inserted) {
          dict->entries[it->second].second = kv[i + 1];
          continue;
        }
      }
      dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
  }

  PickleValuePtr global(const std::string& name, size_t at) const {
    c10::ScalarType dtype;
    check(name == "collections.OrderedDict" || name == "torch._utils._rebuild_tensor_v2" ||
              name == "torch.jit._pickle.restore_type_tag" || storage_dtype(name, &dtype),
          at, "unsupported global '", name, "' (only a state_dict of tensors is read)");
    auto g = PickleValue::make(PickleKind::kGlobal);
    g->text = name;
    return g;
  }

  int64_t as_int(const PickleValuePtr& v, const char* what, size_t at) const {
    check(v->kind == PickleKind::kInt, at, what, " must be an int, got ", pickle_kind_name(v->kind));
    return v->integer;
  }
  std::vector<int64_t> as_ints(const PickleValuePtr& v, const char* what, size_t at) const {
    check(v->kind == PickleKind::kTuple || v->kind == PickleKind::kList, at, what, " must be a tuple");
    std::vector<int64_t> out;
    for (const auto& x : v->items) out.push_back(as_int(x, what, at));
    return out;
  }

  PickleValuePtr persistent(const PickleValuePtr& pid, size_t at) {
    check(pid->kind == PickleKind::kTuple && pid->items.size() == 5 && pid->items[0]->kind == PickleKind::kString &&
              pid->items[0]->text == "storage",
          at, "persistent id is not ('storage', type, key, location, numel)");
    const auto& type = pid->items[1];
    c10::ScalarType dtype;
    check(type->kind == PickleKind::kGlobal && storage_dtype(type->text, &dtype), at, "persistent id names no storage type");
    check(pid->items[2]->kind == PickleKind::kString, at, "storage key must be a string");
    check(pid->items[3]->kind == PickleKind::kString, at, "storage location must be a string");
    const std::string& key = pid->items[2]->text;
    const int64_t numel = as_int(pid->items[4], "storage numel", at);
    check(numel >= 0 && numel < (int64_t{1} << 40), at, "bad storage size ", numel);
    auto it = storages_.find(key);
    if (it != storages_.end()) {
      check(it->second->tensor.scalar_type() == dtype && it->second->tensor.numel() == numel, at, "storage '", key,
            "' is used with two different types or sizes");
      return it->second;
    }
    auto s = PickleValue::make(PickleKind::kStorage);
    s->tensor = load_(dtype, key, numel);
    check(s->tensor.defined() && s->tensor.numel() == numel, at, "storage '", key, "' has the wrong size");
    stats_.storage_bytes += numel * static_cast<int64_t>(s->tensor.element_size());
    storages_[key] = s;
    return s;
  }

  PickleValuePtr reduce(const PickleValuePtr& fn, const PickleValuePtr& args, size_t at) {
    check(fn->kind == PickleKind::kGlobal, at, "REDUCE of a ", pickle_kind_name(fn->kind));
    check(args->kind == PickleKind::kTuple, at, "REDUCE arguments must be a tuple");
    if (fn->text == "collections.OrderedDict") {
      check(args->items.empty(), at, "OrderedDict with constructor arguments");
      return PickleValue::make(PickleKind::kDict);
    }
    if (fn->text == "torch.jit._pickle.restore_type_tag") {  // torch::pickle_save's typed containers
      check(args->items.size() == 2, at, "restore_type_tag with ", args->items.size(), " arguments");
      return args->items[0];
    }
    check(fn->text == "torch._utils._rebuild_tensor_v2", at, "cannot call '", fn->text, "'");
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    check(args->items.size() >= 4 && args->items.size() <= 7, at, "_rebuild_tensor_v2 with ", args->items.size(), " arguments");
    const auto& storage = args->items[0];
    check(storage->kind == PickleKind::kStorage, at, "_rebuild_tensor_v2 without a storage");
    const int64_t offset = as_int(args->items[1], "storage offset", at);
    const auto size = as_ints(args->items[2], "tensor size", at);
    const auto stride = as_ints(args->items[3], "tensor stride", at);
    check(size.size() == stride.size(), at, "tensor size and stride differ in length");
    const int64_t numel = storage->tensor.numel();
    int64_t last = offset, count = 1;
    for (size_t d = 0; d < size.size(); ++d) {
      check(size[d] >= 0 && size[d] < (int64_t{1} << 40) && stride[d] >= 0 && stride[d] < (int64_t{1} << 40), at,
            "bad tensor size/stride");
      count *= size[d];
      check(count < (int64_t{1} << 40), at, "tensor too large");
      // (size - 1) * stride of two 40-bit numbers can pass 64 bits and wrap: bound it by division.
      if (size[d] > 0 && stride[d] > 0) {
        check(size[d] - 1 <= ((int64_t{1} << 41) - last) / stride[d], at, "tensor (offset ", offset,
              ") reaches past its storage of ", storage->tensor.numel(), " elements");
        last += (size[d] - 1) * stride[d];
      }
    }
    check(offset >= 0 && (count == 0 || last < numel), at, "tensor (offset ", offset, ") reaches past its storage of ", numel,
          " elements");
    // A state_dict's tensors never have more elements than their storage; one that does repeats
    // elements (zero or overlapping strides) and would make a small file a large allocation.
    check(count <= numel, at, "tensor of ", count, " elements over a storage of ", numel,
          " (zero or overlapping strides) is not read");
    const int64_t bytes = count * static_cast<int64_t>(storage->tensor.element_size());
    const int64_t budget =
        kMaxMaterializeFactor * (static_cast<int64_t>(data_.size()) + stats_.storage_bytes) + (int64_t{1} << 20);
    check(stats_.materialized_bytes + bytes <= budget, at, "the tensors rebuilt so far would take ",
          stats_.materialized_bytes + bytes, " bytes, more than ", kMaxMaterializeFactor,
          " times the file (views of the same storage repeated?)");
    stats_.materialized_bytes += bytes;
    auto t = PickleValue::make(PickleKind::kTensor);
    t->tensor = count == 0 ? torch::empty(size, storage->tensor.options())
                           : storage->tensor.as_strided(size, stride, offset).clone(at::MemoryFormat::Contiguous);
    return t;
  }

  const std::string& data_;
  const std::string& source_;
  const StorageLoader& load_;
  size_t pos_ = 0;
  std::vector<PickleValuePtr> stack_;
  std::vector<size_t> marks_;
  std::map<uint32_t, PickleValuePtr> memo_;
  std::map<std::string, PickleValuePtr> storages_;
  UnpickleStats& stats_;
};

}  // namespace

PickleValue::~PickleValue() {
  std::vector<PickleValuePtr> pending;
  auto take = [&pending](PickleValue& v) {
    for (auto& x : v.items) pending.push_back(std::move(x));
    for (auto& [k, x] : v.entries) {
      pending.push_back(std::move(k));
      pending.push_back(std::move(x));
    }
    v.items.clear();
    v.entries.clear();
  };
  take(*this);
  while (!pending.empty()) {
    PickleValuePtr p = std::move(pending.back());
    pending.pop_back();
    if (p && p.use_count() == 1) take(*p);  // p dies childless at the end of this iteration
  }
}

const char* pickle_kind_name(PickleKind kind) {
  switch (kind) {
    case PickleKind::kNone: return "None";
    case PickleKind::kBool: return "bool";
    case PickleKind::kInt: return "int";
    case PickleKind::kFloat: return "float";
    case PickleKind::kString: return "str";
    case PickleKind::kTuple: return "tuple";
    case PickleKind::kList: return "list";
    case PickleKind::kDict: return "dict";
    case PickleKind::kGlobal: return "global";
    case PickleKind::kStorage: return "storage";
    case PickleKind::kTensor: return "tensor";
  }
  return "?";
}

PickleValuePtr unpickle(const std::string& data, const std::string& source, const StorageLoader& load_storage,
                        UnpickleStats* stats) {
  UnpickleStats local;
  return Machine(data, source, load_storage, stats ? *stats : local).run();
}

}  // namespace hyperrep::interop
