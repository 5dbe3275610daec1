// PyTorch state_dict files: reading bytes as Python's torch.save writes them (fixtures made by
// tests/fixtures/make_fixtures.py), rejecting corrupt or unsupported files, writing files that
// torch::pickle_load (and so Python's torch.load) reads, and the Sequential key mapping.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/support/error_text.h"

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/fs.h"
#include "interop/torch_format.h"
#include "tests/support/temp_dir.h"

namespace hyperrep::interop {
namespace {

using testing::TempDir;

namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return std::string(HYPERREP_SOURCE_DIR) + "/tests/fixtures/" + name; }

void write_bytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Writes records with LibTorch's own writer (archive folder = file basename, `version` added at
// the end as torch.save does).
void write_archive(const std::string& path, const std::vector<std::pair<std::string, std::string>>& records) {
  caffe2::serialize::PyTorchStreamWriter writer(path);
  for (const auto& [name, data] : records) writer.writeRecord(name, data.data(), data.size());
  writer.writeEndOfFile();
}

std::vector<std::pair<std::string, std::string>> records_of(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string name : reader.getAllRecords()) {
    const auto slash = name.find('/');
    if (slash != std::string::npos && name.compare(0, slash, fs::path(path).stem().string()) == 0) name = name.substr(slash + 1);
    if (name == "version") continue;
    auto [ptr, n] = reader.getRecord(name);
    out.emplace_back(name, std::string(static_cast<const char*>(ptr.get()), n));
  }
  return out;
}

using testing::data_error_of;

void expect_tensor(const NamedTensors& sd, size_t i, const std::string& key, const torch::Tensor& expected) {
  ASSERT_LT(i, sd.size());
  EXPECT_EQ(sd[i].first, key);
  EXPECT_EQ(sd[i].second.scalar_type(), expected.scalar_type()) << key;
  EXPECT_EQ(sd[i].second.sizes(), expected.sizes()) << key;
  EXPECT_TRUE(torch::equal(sd[i].second, expected)) << key << "\n" << sd[i].second << "\nexpected\n" << expected;
}

TEST(TorchFormat, ReadsAStateDictAsPythonTorchSaveWritesIt) {
  // torch.nn.Sequential(Linear(3, 2), Tanh(), Linear(2, 2)) with the values set in make_fixtures.py.
  for (const char* name : {"torch/sequential_state_dict.pt", "torch/sequential_state_dict_v21.pt"}) {
    const auto sd = read_state_dict(fixture(name));
    ASSERT_EQ(sd.size(), 4u) << name;
    expect_tensor(sd, 0, "0.weight", torch::tensor({{-1.0f, -0.5f, 0.0f}, {0.5f, 1.0f, 1.5f}}));
    expect_tensor(sd, 1, "0.bias", torch::tensor({0.25f, -0.25f}));
    expect_tensor(sd, 2, "2.weight", torch::tensor({{2.0f, 2.125f}, {2.25f, 2.375f}}));
    expect_tensor(sd, 3, "2.bias", torch::tensor({-3.0f, 3.0f}));
  }
}

TEST(TorchFormat, ReadsDtypesSharedStoragesOffsetsAndStrides) {
  const auto sd = read_state_dict(fixture("torch/views.pt"));
  ASSERT_EQ(sd.size(), 5u);
  expect_tensor(sd, 0, "t", torch::tensor({{0.0f, 3.0f}, {1.0f, 4.0f}, {2.0f, 5.0f}}));
  expect_tensor(sd, 1, "row", torch::tensor({3.0f, 4.0f, 5.0f}));
  expect_tensor(sd, 2, "h", torch::tensor({1.5, -2.0}).to(torch::kHalf));
  expect_tensor(sd, 3, "d", torch::tensor({0.1, 1e300}, torch::kDouble));
  expect_tensor(sd, 4, "l", torch::tensor({int64_t{-7}, int64_t{1} << 40}, torch::kLong));
}

TEST(TorchFormat, FixtureZipFramingIsByteIdenticalToLibTorchsWriter) {
  // Re-writes each fixture's records with caffe2's PyTorchStreamWriter (the writer torch.save
  // uses) and compares whole files: the Python generator's zip layer matches torch's exactly.
  TempDir tmp;
  const std::vector<std::string> files = {
      "torch/sequential_state_dict.pt", "torch/views.pt",
      "modelzoo/NN_tune_trainable_1a2b3_00000_0_seed=1_2022-01-01_00-00-00/checkpoint_000001/checkpoints"};
  for (const auto& f : files) {
    const std::string path = fixture(f);
    const std::string copy = tmp / fs::path(path).filename().string();
    write_archive(copy, records_of(path));
    EXPECT_EQ(read_file(copy), read_file(path)) << f;
  }
}

TEST(TorchFormat, TruncatedOrCorruptFilesGiveDataErrors) {
  TempDir tmp;
  const std::string good = read_file(fixture("torch/sequential_state_dict.pt"));
  const std::string bad = tmp / "bad.pt";
  for (size_t n = 0; n < good.size(); n += 11) {
    write_bytes(bad, good.substr(0, n));
    EXPECT_NE(data_error_of([&] { read_state_dict(bad); }), "<no DataError>") << "truncated to " << n;
  }
  // Every single-byte corruption either fails with a DataError or still reads four tensors.
  for (size_t i = 0; i < good.size(); i += 5) {
    std::string c = good;
    c[i] = static_cast<char>(c[i] ^ 0x5a);
    write_bytes(bad, c);
    try {
      EXPECT_EQ(read_state_dict(bad).size(), 4u) << "byte " << i;
    } catch (const DataError&) {}
  }
  write_bytes(bad, std::string("\x80\x02\x8a\x0al\xfc\x9c"
                               "F\xf9 j\xa8P\x19."));
  EXPECT_NE(data_error_of([&] { read_state_dict(bad); }).find("legacy torch.save format"), std::string::npos);
  write_bytes(bad, "hello, world");
  EXPECT_NE(data_error_of([&] { read_state_dict(bad); }).find("not a torch.save zip archive"), std::string::npos);
}

TEST(TorchFormat, StorageRecordsOfTheWrongSizeAndTruncatedPicklesAreRejected) {
  TempDir tmp;
  auto records = records_of(fixture("torch/sequential_state_dict.pt"));
  ASSERT_EQ(records[0].first, "data.pkl");
  ASSERT_EQ(records[1].first, "data/0");
  auto short_storage = records;
  short_storage[1].second.resize(20);  // 0.weight needs 6 floats = 24 bytes
  write_archive(tmp / "short.pt", short_storage);
  const auto e1 = data_error_of([&] { read_state_dict(tmp / "short.pt"); });
  EXPECT_NE(e1.find("storage record 'data/0' has 20 bytes, expected 24"), std::string::npos) << e1;

  auto truncated = records;
  truncated[0].second.resize(truncated[0].second.size() / 2);
  write_archive(tmp / "trunc.pt", truncated);
  const auto e2 = data_error_of([&] { read_state_dict(tmp / "trunc.pt"); });
  EXPECT_NE(e2.find("truncated pickle"), std::string::npos) << e2;

  auto missing = records;
  missing.erase(missing.begin() + 2);  // data/1
  write_archive(tmp / "missing.pt", missing);
  const auto e3 = data_error_of([&] { read_state_dict(tmp / "missing.pt"); });
  EXPECT_NE(e3.find("missing storage record 'data/1'"), std::string::npos) << e3;
}

TEST(TorchFormat, UnsupportedPicklesNameTheGlobalOrOpcode) {
  TempDir tmp;
  // pickle.dumps(os.system('ls') as a reduce, protocol=2): GLOBAL os.system, REDUCE.
  const std::string evil(
      "\x80\x02"
      "cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.",
      31);
  write_archive(tmp / "evil.pt", {{"data.pkl", evil}});
  const auto e1 = data_error_of([&] { read_state_dict(tmp / "evil.pt"); });
  EXPECT_NE(e1.find("unsupported global 'os.system'"), std::string::npos) << e1;
  EXPECT_NE(e1.find("evil.pt"), std::string::npos) << e1;

  const std::string text_string("\x80\x02S'abc'\np0\n.", 14);  // STRING opcode (protocol 0)
  write_archive(tmp / "op.pt", {{"data.pkl", text_string}});
  const auto e2 = data_error_of([&] { read_state_dict(tmp / "op.pt"); });
  EXPECT_NE(e2.find("unsupported pickle opcode 0x53 'S'"), std::string::npos) << e2;

  const std::string list("\x80\x02]q\x00.", 6);  // a list, not a dict
  write_archive(tmp / "list.pt", {{"data.pkl", list}});
  EXPECT_NE(data_error_of([&] { read_state_dict(tmp / "list.pt"); }).find("holds a list, not a state_dict"), std::string::npos);

  // A million nested lists: rejected, and destroying the value tree must not overflow the stack.
  const size_t n = 1000000;
  const std::string deep = std::string("\x80\x02", 2) + std::string(n, ']') + std::string(n - 1, 'a') + ".";
  write_archive(tmp / "deep.pt", {{"data.pkl", deep}});
  EXPECT_NE(data_error_of([&] { read_state_dict(tmp / "deep.pt"); }).find("holds a list"), std::string::npos);
}

// The tensors of tests/fixtures/torch/export_twelve/archive.pt (see make_fixtures.py).
NamedTensors twelve_tensors() {
  const std::vector<std::vector<int64_t>> shapes = {{2, 1, 2, 2}, {3}, {}, {4, 5}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}};
  NamedTensors sd;
  for (size_t i = 0; i < shapes.size(); ++i) {
    int64_t n = 1;
    for (auto d : shapes[i]) n *= d;
    sd.emplace_back("t" + std::to_string(i), (torch::arange(n, torch::kFloat) * 0.25 - double(i)).view(shapes[i]));
  }
  return sd;
}

TEST(TorchFormat, WrittenFilesAreByteIdenticalToPythonTorchSave) {
  // make_fixtures.py wrote what torch.save(dict, "archive.pt") writes; write_state_dict must
  // produce the same bytes (so torch.load, weights_only or not, reads it as Python's own file).
  TempDir tmp;
  const NamedTensors small = {{"0.weight", torch::arange(6, torch::kFloat).view({2, 3}) * 0.5 - 1},
                              {"0.bias", torch::tensor({0.25f, -0.25f})},
                              {"2.weight", torch::arange(4, torch::kFloat).view({2, 2}) * 0.125 + 2},
                              {"2.bias", torch::tensor({-3.0f, 3.0f})}};
  write_state_dict(tmp / "small.pt", small);
  EXPECT_EQ(read_file(tmp / "small.pt"), read_file(fixture("torch/export_small/archive.pt")));
  write_state_dict(tmp / "twelve.pt", twelve_tensors());
  EXPECT_EQ(read_file(tmp / "twelve.pt"), read_file(fixture("torch/export_twelve/archive.pt")));
}

TEST(TorchFormat, WrittenFilesReadBackThroughPickleLoadAndOurReader) {
  TempDir tmp;
  NamedTensors sd = twelve_tensors();
  sd.emplace_back("transposed", torch::arange(6, torch::kFloat).view({2, 3}).t());  // non-contiguous input
  sd.emplace_back("single", torch::tensor({1.5}, torch::kDouble));
  const std::string path = tmp / "m.pt";
  write_state_dict(path, sd);
  const std::string bytes = read_file(path);
  const auto loaded = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  ASSERT_EQ(loaded.size(), sd.size());
  size_t i = 0;
  for (const auto& entry : loaded) {
    EXPECT_EQ(entry.key().toStringRef(), sd[i].first);
    EXPECT_TRUE(torch::equal(entry.value().toTensor(), sd[i].second)) << sd[i].first;
    ++i;
  }
  const auto ours = read_state_dict(path);
  ASSERT_EQ(ours.size(), sd.size());
  for (size_t k = 0; k < sd.size(); ++k) expect_tensor(ours, k, sd[k].first, sd[k].second.contiguous());
  // A single tensor pickles with SETITEM instead of MARK/SETITEMS.
  write_state_dict(path, {sd[0]});
  expect_tensor(read_state_dict(path), 0, "t0", sd[0].second);
}

TEST(TorchFormat, PickleLoadCannotReadPythonStateDictsWhichIsWhyWeHaveOurOwnReader) {
  // pytorch#100741: LibTorch < 2.6 fails on the OrderedDict-with-_metadata Python writes.
  const std::string bytes = read_file(fixture("torch/sequential_state_dict.pt"));
  EXPECT_ANY_THROW(torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())));
}

const std::vector<std::string> kCnnS = {"conv(1,8,5)", "maxpool(2)", "act",     "conv(8,6,5)",   "maxpool(2)", "act",
                                        "conv(6,4,2)", "act",        "flatten", "linear(36,20)", "act",        "linear(20,10)"};

TEST(TorchFormat, SequentialKeysOfCnnSAndTheTetrisMlp) {
  const auto cnn = zoo::Architecture::parse(kCnnS, {1, 28, 28});
  auto flat = torch::arange(cnn.num_params(), torch::kFloat);
  const auto sd = state_dict_from_flat(cnn, flat);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"0.weight", {8, 1, 5, 5}}, {"0.bias", {8}},  {"3.weight", {6, 8, 5, 5}}, {"3.bias", {6}},
      {"6.weight", {4, 6, 2, 2}}, {"6.bias", {4}},  {"9.weight", {20, 36}},     {"9.bias", {20}},
      {"11.weight", {10, 20}},    {"11.bias", {10}}};
  ASSERT_EQ(sd.size(), expected.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(sd[i].first, expected[i].first);
    EXPECT_EQ(sd[i].second.sizes().vec(), expected[i].second) << sd[i].first;
  }
  EXPECT_EQ(sd[2].second.flatten()[0].item<float>(), 208.0f);  // 3.weight starts after 200 + 8
  EXPECT_TRUE(torch::equal(flat_from_state_dict(cnn, sd), flat));

  const auto mlp = zoo::Architecture::parse({"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  const auto msd = state_dict_from_flat(mlp, torch::arange(100, torch::kFloat));
  ASSERT_EQ(msd.size(), 2u);
  EXPECT_EQ(msd[0].first, "1.weight");
  EXPECT_EQ(msd[0].second.sizes().vec(), (std::vector<int64_t>{5, 16}));
  EXPECT_EQ(msd[1].first, "3.weight");
  EXPECT_EQ(msd[1].second.sizes().vec(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(msd[1].second[0][0].item<float>(), 80.0f);
}

TEST(TorchFormat, KeysMatchTorchNnSequentialAndGiveTheSameLogits) {
  // LibTorch's nn::Sequential names parameters as Python's does; loading our state_dict into it
  // must reproduce functional_forward.
  torch::manual_seed(5);
  const auto cnn = zoo::Architecture::parse(kCnnS, {1, 28, 28});
  const auto flat = torch::randn({cnn.num_params()}) * 0.2;
  namespace nn = torch::nn;
  nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 8, 5)), nn::MaxPool2d(2), nn::Tanh(), nn::Conv2d(nn::Conv2dOptions(8, 6, 5)),
                     nn::MaxPool2d(2), nn::Tanh(), nn::Conv2d(nn::Conv2dOptions(6, 4, 2)), nn::Tanh(), nn::Flatten(),
                     nn::Linear(36, 20), nn::Tanh(), nn::Linear(20, 10));
  const auto sd = state_dict_from_flat(cnn, flat);
  auto params = net->named_parameters();
  ASSERT_EQ(params.size(), sd.size());
  torch::NoGradGuard ng;
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(params[i].key(), sd[i].first);
    params[sd[i].first].copy_(sd[i].second);
  }
  const auto x = torch::randn({4, 1, 28, 28});
  EXPECT_TRUE(torch::allclose(net->forward(x), zoo::functional_forward(cnn, Activation::kTanh, flat, x), 1e-5, 1e-6));
}

// The Small CNN Zoo network: gap is two modules (AdaptiveAvgPool2d(1), Flatten), so the dense
// layer's keys are 8.weight / 8.bias, as Python's nn.Sequential names them.
TEST(TorchFormat, StridedConvolutionsAndGapMatchTorchNnSequential) {
  torch::manual_seed(6);
  const auto arch = zoo::Architecture::parse(
      {"conv(1,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "gap", "linear(16,10)"},
      {1, 28, 28});
  const auto flat = torch::randn({arch.num_params()}) * 0.2;
  namespace nn = torch::nn;
  nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 16, 3).stride(2)), nn::ReLU(),
                     nn::Conv2d(nn::Conv2dOptions(16, 16, 3).stride(2)), nn::ReLU(),
                     nn::Conv2d(nn::Conv2dOptions(16, 16, 3).stride(2)), nn::ReLU(),
                     nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)), nn::Flatten(), nn::Linear(16, 10));
  const auto sd = state_dict_from_flat(arch, flat);
  auto params = net->named_parameters();
  ASSERT_EQ(params.size(), sd.size());
  EXPECT_EQ(sd.back().first, "8.bias");
  torch::NoGradGuard ng;
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(params[i].key(), sd[i].first);
    params[sd[i].first].copy_(sd[i].second);
  }
  const auto x = torch::randn({4, 1, 28, 28});
  EXPECT_TRUE(torch::allclose(net->forward(x), zoo::functional_forward(arch, Activation::kRelu, flat, x), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(flat_from_state_dict(arch, sd), flat));
}

TEST(TorchFormat, StrictMappingListsMissingUnexpectedAndMismatchedKeys) {
  const auto mlp = zoo::Architecture::parse({"flatten", "linear(16,5)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  NamedTensors sd = {{"1.weight", torch::zeros({5, 16})}, {"3.weight", torch::zeros({5, 4})}, {"4.bias", torch::zeros({4})}};
  const auto e = data_error_of([&] { flat_from_state_dict(mlp, sd); });
  EXPECT_NE(e.find("missing keys: 1.bias"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected keys: 4.bias"), std::string::npos) << e;
  EXPECT_NE(e.find("shape mismatches: 3.weight [5, 4] (expected [4, 5])"), std::string::npos) << e;
}

TEST(TorchFormat, OrderBasedMappingForOtherModuleNames) {
  const auto mlp = zoo::Architecture::parse({"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  const NamedTensors sd = {{"module_list.1.weight", torch::full({5, 16}, 1.5f)},
                           {"module_list.3.weight", torch::full({4, 5}, -2.0f)}};
  const auto flat = flat_from_state_dict_by_order(mlp, sd);
  EXPECT_EQ(flat.narrow(0, 0, 80).sum().item<float>(), 120.0f);
  EXPECT_EQ(flat.narrow(0, 80, 20).sum().item<float>(), -40.0f);
  EXPECT_THROW(flat_from_state_dict(mlp, sd), DataError);
  const NamedTensors wrong = {{"a", torch::zeros({5, 16})}, {"b", torch::zeros({5, 4})}};
  const auto e = data_error_of([&] { flat_from_state_dict_by_order(mlp, wrong); });
  EXPECT_NE(e.find("'b' has shape [5, 4], but parameter '3.weight' has shape [4, 5]"), std::string::npos) << e;
  EXPECT_THROW(flat_from_state_dict_by_order(mlp, {sd[0]}), DataError);
}

}  // namespace
}  // namespace hyperrep::interop
