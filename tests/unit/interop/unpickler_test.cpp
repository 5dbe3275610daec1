// The unpickler on hostile input, bounded by counts rather than time: linear work in the number
// of dict keys, and memory a small multiple of the input (zero strides and repeated views of one
// storage are refused before they are allocated); plus the import paths' one dtype rule and
// errors that stay short for files with many keys.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "interop/torch_format.h"
#include "interop/unpickler.h"
#include "tests/support/error_text.h"

namespace hyperrep::interop {
namespace {

using testing::data_error_of;

std::string u32le(uint32_t v) {
  std::string b(4, '\0');
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return b;
}
std::string unicode(const std::string& s) { return "X" + u32le(static_cast<uint32_t>(s.size())) + s; }
std::string binint(int64_t v) {  // LONG1 with 8 bytes: any int64
  std::string b = "\x8a\x08";
  for (int i = 0; i < 8; ++i) b += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  return b;
}

// _rebuild_tensor_v2(storage 'key' of numel floats, offset 0, (size,), (stride,), False, OrderedDict())
std::string tensor_pickle(const std::string& key, int64_t numel, int64_t size, int64_t stride) {
  return "ctorch._utils\n_rebuild_tensor_v2\n(" + std::string("(") + unicode("storage") + "ctorch\nFloatStorage\n" +
         unicode(key) + unicode("cpu") + binint(numel) + "tQ" + binint(0) + "(" + binint(size) + "t(" + binint(stride) + "t\x89" +
         "ccollections\nOrderedDict\n)RtR";
}

std::string dict_of(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string p = "\x80\x02}(";
  for (const auto& [k, v] : items) p += unicode(k) + v;
  return p + "u.";
}

const StorageLoader kZeros = [](c10::ScalarType dtype, const std::string&, int64_t numel) {
  return torch::zeros({numel}, torch::TensorOptions().dtype(dtype));
};

TEST(Unpickler, DictInsertsAreLinearInTheKeys) {
  const int n = 200000;
  std::string p = "\x80\x02}(";
  for (int i = 0; i < n; ++i)
    p += unicode("layer." + std::to_string(i) + ".weight") + "K" + std::string(1, static_cast<char>(i % 200));
  p += unicode("layer.7.weight") + "K" + std::string(1, '\xfe');  // a repeated key: last value wins, first place kept
  p += "u.";
  UnpickleStats stats;
  const auto v = unpickle(p, "big.pkl", kZeros, &stats);
  ASSERT_EQ(v->kind, PickleKind::kDict);
  ASSERT_EQ(v->entries.size(), static_cast<size_t>(n));
  EXPECT_EQ(v->entries[7].first->text, "layer.7.weight");
  EXPECT_EQ(v->entries[7].second->integer, 0xfe);
  EXPECT_EQ(v->entries[n - 1].second->integer, (n - 1) % 200);
  // One look-up per key (O(log n) comparisons each); the old scan made n^2/2 = 2e10 here.
  EXPECT_EQ(stats.key_probes, n + 1);
}

TEST(Unpickler, ZeroStrideTensorIsRefusedBeforeAllocating) {
  // 4e8 elements over an 80-element storage: a file of a few hundred bytes asking for 1.6 GB.
  const std::string p = dict_of({{"w", tensor_pickle("0", 80, 400000000, 0)}});
  UnpickleStats stats;
  const std::string e = data_error_of([&] { unpickle(p, "stride0.pkl", kZeros, &stats); });
  EXPECT_NE(e.find("tensor of 400000000 elements over a storage of 80"), std::string::npos) << e;
  EXPECT_NE(e.find("stride0.pkl"), std::string::npos) << e;
  EXPECT_EQ(stats.materialized_bytes, 0);
  EXPECT_LE(p.size(), 1024u);
}

TEST(Unpickler, StrideProductsThatWrapAreRefused) {
  // (2^24) * 2^39 = 2^63 wraps to a negative "last element" that once passed the bounds check
  // and then read far outside the storage.
  const int64_t n = (int64_t{1} << 24) + 1;
  const std::string p = dict_of({{"w", tensor_pickle("0", n, n, int64_t{1} << 39)}});
  const std::string e = data_error_of([&] { unpickle(p, "wrap.pkl", kZeros); });
  EXPECT_NE(e.find("reaches past its storage"), std::string::npos) << e;
}

TEST(Unpickler, RepeatedViewsOfOneStorageHaveABudget) {
  // Tied weights (two keys viewing one storage) load...
  UnpickleStats tied;
  const auto ok = unpickle(dict_of({{"a", tensor_pickle("0", 1000, 1000, 1)}, {"b", tensor_pickle("0", 1000, 1000, 1)}}),
                           "tied.pkl", kZeros, &tied);
  EXPECT_EQ(ok->entries.size(), 2u);
  EXPECT_EQ(tied.storage_bytes, 4000);
  EXPECT_EQ(tied.materialized_bytes, 8000);
  // ...but a million-float storage viewed 100 times (400 MB from a few KB of pickle) stops at
  // the budget: kMaxMaterializeFactor times what was read, plus 1 MiB.
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 100; ++i) many.push_back({"k" + std::to_string(i), tensor_pickle("0", 1 << 20, 1 << 20, 1)});
  const std::string p = dict_of(many);
  UnpickleStats stats;
  const std::string e = data_error_of([&] { unpickle(p, "views.pkl", kZeros, &stats); });
  EXPECT_NE(e.find("times the file"), std::string::npos) << e;
  const int64_t budget = kMaxMaterializeFactor * (static_cast<int64_t>(p.size()) + stats.storage_bytes) + (1 << 20);
  EXPECT_LE(stats.materialized_bytes, budget);
  EXPECT_EQ(stats.storage_bytes, 4 << 20);
}

TEST(ImportRule, IntegerTensorsAreRefusedByEveryImportPath) {
  const zoo::Architecture arch = zoo::Architecture::parse({"flatten", "linear(4,2)"}, {1, 2, 2});
  NamedTensors sd = state_dict_from_flat(arch, torch::arange(10, torch::kFloat));
  sd[0].second = sd[0].second.to(torch::kInt64);
  const std::string by_name = data_error_of([&] { flat_from_state_dict(arch, sd); });
  const std::string by_order = data_error_of([&] { flat_from_state_dict_by_order(arch, sd); });
  EXPECT_NE(by_name.find("state_dict tensor '1.weight' is Long, not floating point"), std::string::npos) << by_name;
  EXPECT_EQ(by_name, by_order);
  sd[0].second = sd[0].second.to(torch::kFloat64);  // other float widths convert
  EXPECT_TRUE(torch::equal(flat_from_state_dict(arch, sd), torch::arange(10, torch::kFloat)));
  EXPECT_TRUE(torch::equal(flat_from_state_dict_by_order(arch, sd), torch::arange(10, torch::kFloat)));
}

TEST(ImportRule, ErrorsAboutManyKeysStayShort) {
  const zoo::Architecture arch = zoo::Architecture::parse({"flatten", "linear(4,2)"}, {1, 2, 2});
  NamedTensors sd;
  for (int i = 0; i < 20000; ++i) sd.emplace_back("extra.key.number." + std::to_string(i), torch::zeros({1}));
  const std::string e = data_error_of([&] { flat_from_state_dict(arch, sd); });
  EXPECT_LT(e.size(), 1024u) << e.size();
  EXPECT_NE(e.find("(20000 in all)"), std::string::npos) << e;
  EXPECT_EQ(quote_few({"a", "b", "c"}, 2), "a, b, ... (3 in all)");
  EXPECT_EQ(quote_few({"a", "b"}, 2), "a, b");
}

}  // namespace
}  // namespace hyperrep::interop
