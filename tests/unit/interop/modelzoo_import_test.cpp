// Importing the public "Model Zoos" layout (fixture made by tests/fixtures/make_fixtures.py:
// two Tetris-sized MLP members named like the public zoos' module_list, two checkpoints each)
// and the JSON reader under it.
#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/support/error_text.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "interop/modelzoo_import.h"
#include "tests/support/temp_dir.h"

namespace hyperrep::interop {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kMlp = {"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"};
const std::string kZoo = std::string(HYPERREP_SOURCE_DIR) + "/tests/fixtures/modelzoo";
const std::string kFirst = "NN_tune_trainable_1a2b3_00000_0_seed=1_2022-01-01_00-00-00";

using testing::data_error_of;

// A copy of the fixture zoo to damage.
struct ZooCopy {
  testing::TempDir tmp{"hyperrep_mz"};
  fs::path path = tmp / "zoo";
  ZooCopy() { fs::copy(kZoo, path, fs::copy_options::recursive); }
};

TEST(ModelZooImport, ReadsMembersEpochsWeightsAndProperties) {
  const ImportedZoo zoo = import_modelzoo(kZoo, kMlp, {1, 4, 4});
  EXPECT_EQ(zoo.header.num_params, 100);
  EXPECT_EQ(zoo.header.architecture, kMlp);
  EXPECT_EQ(zoo.header.task, "modelzoo:modelzoo");
  EXPECT_EQ(import_modelzoo(kZoo + "/", kMlp, {1, 4, 4}).header.task, "modelzoo:modelzoo");
  EXPECT_EQ(zoo.header.numeric_properties, (std::vector<std::string>{"test_acc", "train_acc", "ggap", "test_loss", "train_loss",
                                                                     "epoch", "lr", "l2", "weight_decay", "dropout", "seed"}));
  EXPECT_EQ(zoo.header.categorical_properties, (std::vector<std::string>{"activation", "init", "optimizer"}));
  ASSERT_EQ(zoo.members.size(), 2u);
  for (int m = 0; m < 2; ++m) {  // folders sort as seed=1 (00000) then seed=2 (00001)
    const store::MemberRecord& r = zoo.members[m];
    EXPECT_EQ(r.member, m);
    EXPECT_EQ(r.epochs, (std::vector<int64_t>{1, 2}));
    ASSERT_EQ(r.weights.sizes().vec(), (std::vector<int64_t>{2, 100}));
    EXPECT_EQ(r.weights.scalar_type(), torch::kFloat);
    for (int e = 1; e <= 2; ++e) {
      // make_fixtures.py: w1[i] = (i - 40)/64 + m + e/8 ([5,16] row-major), w2[i] = (i - 10)/32 - m - e/4.
      auto row = r.weights[e - 1];
      EXPECT_FLOAT_EQ(row[0].item<float>(), -40.0f / 64 + m + e / 8.0f);
      EXPECT_FLOAT_EQ(row[79].item<float>(), 39.0f / 64 + m + e / 8.0f);
      EXPECT_FLOAT_EQ(row[80].item<float>(), -10.0f / 32 - m - e / 4.0f);
      EXPECT_FLOAT_EQ(row[99].item<float>(), 9.0f / 32 - m - e / 4.0f);
      const auto& p = r.numeric[e - 1];
      EXPECT_NEAR(p.at("test_acc"), 0.5 + 0.1 * e + 0.01 * m, 1e-12);
      EXPECT_NEAR(p.at("train_acc"), 0.55 + 0.1 * e + 0.01 * m, 1e-12);
      EXPECT_NEAR(p.at("ggap"), 0.05, 1e-12);
      EXPECT_DOUBLE_EQ(p.at("test_loss"), 1.0 / e);
      EXPECT_DOUBLE_EQ(p.at("train_loss"), 0.9 / e);
      EXPECT_EQ(p.at("epoch"), e);
      EXPECT_EQ(p.at("lr"), m == 0 ? 0.0003 : 0.001);
      EXPECT_EQ(p.at("weight_decay"), 0.0);
      EXPECT_EQ(p.at("l2"), 0.0);
      EXPECT_EQ(p.at("dropout"), 0.0);
      EXPECT_EQ(p.at("seed"), m + 1);
    }
    EXPECT_EQ(r.categorical.at("activation"), m == 0 ? "tanh" : "relu");
    EXPECT_EQ(r.categorical.at("init"), "uniform");
    EXPECT_EQ(r.categorical.at("optimizer"), "adam");
  }
}

TEST(ModelZooImport, EpochsWithoutResultLinesGetNaNMetrics) {
  ZooCopy zoo;
  const fs::path member = zoo.path / kFirst;
  fs::copy(member / "checkpoint_000001", member / "checkpoint_000000", fs::copy_options::recursive);
  const auto imported = import_modelzoo(zoo.path.string(), kMlp, {1, 4, 4});
  const auto& r = imported.members[0];
  EXPECT_EQ(r.epochs, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(std::isnan(r.numeric[0].at("test_acc")));
  EXPECT_EQ(r.numeric[0].at("epoch"), 0.0);
  EXPECT_TRUE(torch::equal(r.weights[0], r.weights[1]));
}

// Copies of the public zoos without params.json: the configuration comes from result.json's
// nested "config"; an optimizer file beside checkpoints is ignored.
TEST(ModelZooImport, ConfigFromResultJsonWhenParamsJsonIsMissing) {
  ZooCopy zoo;
  const ImportedZoo reference = import_modelzoo(kZoo, kMlp, {1, 4, 4});
  for (const auto& entry : fs::directory_iterator(zoo.path)) {
    const fs::path folder = entry.path();
    std::string params = read_file((folder / "params.json").string());
    std::replace(params.begin(), params.end(), '\n', ' ');  // one JSON object per line
    fs::remove(folder / "params.json");
    std::string rewritten, line;
    std::istringstream in(read_file((folder / "result.json").string()));
    while (std::getline(in, line)) {
      if (line.find('}') == std::string::npos) continue;
      rewritten += line.substr(0, line.rfind('}')) + ", \"config\": " + params + "}\n";
    }
    std::ofstream(folder / "result.json", std::ios::trunc) << rewritten;
    std::ofstream(folder / "checkpoint_000001" / "optimizer") << "not a state_dict";
  }
  const ImportedZoo imported = import_modelzoo(zoo.path.string(), kMlp, {1, 4, 4});
  ASSERT_EQ(imported.members.size(), reference.members.size());
  for (size_t m = 0; m < imported.members.size(); ++m) {
    EXPECT_TRUE(torch::equal(imported.members[m].weights, reference.members[m].weights));
    EXPECT_EQ(imported.members[m].categorical, reference.members[m].categorical);
    EXPECT_EQ(imported.members[m].numeric, reference.members[m].numeric);
  }
  // Neither params.json nor a config: the folder is named.
  ZooCopy bare;
  fs::remove(bare.path / kFirst / "params.json");
  const auto e = data_error_of([&] { import_modelzoo(bare.path.string(), kMlp, {1, 4, 4}); });
  EXPECT_NE(e.find("has no params.json and no line of result.json carries a 'config' object"), std::string::npos) << e;
}

TEST(ModelZooImport, BadFoldersAndFilesAreNamed) {
  {
    ZooCopy zoo;
    fs::create_directories(zoo.path / "stray");
    const auto e = data_error_of([&] { import_modelzoo(zoo.path.string(), kMlp, {1, 4, 4}); });
    EXPECT_NE(e.find("stray' is not a model zoo folder"), std::string::npos) << e;
  }
  {
    ZooCopy zoo;
    std::ofstream(zoo.path / kFirst / "result.json", std::ios::app) << "{\"training_iteration\": 3, \"test_acc\": tru}\n";
    const auto e = data_error_of([&] { import_modelzoo(zoo.path.string(), kMlp, {1, 4, 4}); });
    EXPECT_NE(e.find("result.json, line 3:1:42: invalid value at '}'"), std::string::npos) << e;
  }
  {
    ZooCopy zoo;
    std::ofstream(zoo.path / kFirst / "params.json") << "{\"seed\": 1}";
    const auto e = data_error_of([&] { import_modelzoo(zoo.path.string(), kMlp, {1, 4, 4}); });
    EXPECT_NE(e.find("params.json: missing 'optim::lr'"), std::string::npos) << e;
  }
  {
    ZooCopy zoo;
    std::ofstream(zoo.path / kFirst / "checkpoint_000002" / "checkpoints", std::ios::trunc) << "not a zip";
    const auto e = data_error_of([&] { import_modelzoo(zoo.path.string(), kMlp, {1, 4, 4}); });
    EXPECT_NE(e.find(kFirst + "/checkpoint_000002/checkpoints: not a torch.save zip archive"), std::string::npos) << e;
  }
  // The wrong architecture: the first layer has 6 outputs instead of 5.
  const auto e = data_error_of([&] {
    import_modelzoo(kZoo, {"flatten", "linear(16,6,nobias)", "act", "linear(6,4,nobias)"}, {1, 4, 4});
  });
  EXPECT_NE(e.find("checkpoint_000001/checkpoints: state_dict tensor 0 'module_list.1.weight' has shape [5, 16], but "
                   "parameter '1.weight' has shape [6, 16]"),
            std::string::npos)
      << e;
}

}  // namespace
}  // namespace hyperrep::interop
