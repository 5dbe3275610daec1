// The zoo data set: member splits, checkpoint filters, per-member reads and the block
// standardisation against a direct computation.
#include <gtest/gtest.h>

#include <set>

#include "common/error.h"
#include "data/zoo_dataset.h"
#include "tests/support/zoo_store_fixture.h"

namespace hyperrep::data {
namespace {

using namespace hyperrep::testing;

TEST(ZooSplit, DisjointCoveringDeterministicAndSized) {
  const MemberSplit s = split_members(100, {0.7, 0.15, 0.15}, 42);
  EXPECT_EQ(s.train.size(), 70u);
  EXPECT_EQ(s.val.size(), 15u);
  EXPECT_EQ(s.test.size(), 15u);
  std::set<int64_t> all;
  for (const auto* v : {&s.train, &s.val, &s.test}) {
    EXPECT_TRUE(std::is_sorted(v->begin(), v->end()));
    all.insert(v->begin(), v->end());
  }
  EXPECT_EQ(all.size(), 100u);
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), 99);
  const MemberSplit again = split_members(100, {0.7, 0.15, 0.15}, 42);
  EXPECT_EQ(again.train, s.train);
  EXPECT_EQ(again.test, s.test);
  EXPECT_NE(split_members(100, {0.7, 0.15, 0.15}, 43).train, s.train);
  // The shuffle really shuffles: the training split is not just the first 70 ids.
  EXPECT_NE(s.train.back(), 69);
  // 7 members at 0.5/0.25/0.25: round(3.5) = 4 train, round(5.25) - 4 = 1 val, 2 test.
  const MemberSplit small = split_members(7, {0.5, 0.25, 0.25}, 1);
  EXPECT_EQ(small.train.size(), 4u);
  EXPECT_EQ(small.val.size(), 1u);
  EXPECT_EQ(small.test.size(), 2u);
  EXPECT_THROW(split_members(7, {0.5, 0.25}, 1), ConfigError);
  EXPECT_THROW(split_members(7, {0.5, 0.25, 0.3}, 1), ConfigError);
}

class ZooDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = tmp.zoo();
    store::ZooWriter w(dir, small_header(), 0);
    for (int64_t m = 0; m < 5; ++m) {
      store::MemberRecord r = make_record(m);
      if (m == 2) r.weights[1][4] = std::nanf("");                            // member 2, epoch 2
      if (m == 3) r.weights[0][0] = -std::numeric_limits<float>::infinity();  // member 3, epoch 0
      if (m == 1) r.weights[1][9] = -7.0f;                                    // member 1, epoch 5
      w.write_member(r);
    }
    dist::LocalCommunicator comm;
    w.finalize(comm, 5);
  }
  ScratchDir tmp;
  std::string dir;
};

TEST_F(ZooDatasetTest, FiltersDropExactlyTheBadRows) {
  store::ZooReader reader(dir);
  ZooDataset all(reader, {0, 1, 2, 3, 4}, ZooFilter{5.0, {}});
  EXPECT_EQ(all.dropped_nonfinite(), 2);
  EXPECT_EQ(all.dropped_large(), 1);
  ASSERT_EQ(all.size(), 11);
  EXPECT_EQ(all.member_ids(), (std::vector<int64_t>{0, 0, 0, 1, 2, 2, 3, 3, 4, 4, 4}));
  EXPECT_EQ(all.epochs(), (std::vector<int64_t>{0, 2, 5, 0, 0, 5, 2, 5, 0, 2, 5}));
  EXPECT_TRUE(torch::isfinite(all.weights()).all().item<bool>());
  EXPECT_FLOAT_EQ(all.weights()[6][3].item<float>(), weight_value(3, 2, 3));

  EXPECT_EQ(all.numeric_names(), (std::vector<std::string>{"test_acc", "epoch", "lr"}));
  EXPECT_EQ(all.numeric().sizes(), (std::vector<int64_t>{11, 3}));
  EXPECT_EQ(all.numeric()[6][0].item<double>(), test_acc(3, 2));
  EXPECT_EQ(all.numeric()[6][1].item<double>(), 2.0);
  EXPECT_EQ(all.numeric()[6][2].item<double>(), 1e-3 * 4);
  EXPECT_EQ(all.categorical("activation")[3], "relu");
  EXPECT_EQ(all.categorical("activation")[0], activation_of(0));
  EXPECT_THROW(all.categorical("init"), DataError);

  ZooDataset no_limit(reader, {0, 1, 2, 3, 4}, ZooFilter{0.0, {}});
  EXPECT_EQ(no_limit.size(), 12);
  EXPECT_EQ(no_limit.dropped_large(), 0);

  // Epochs 0 and 5 only: the NaN (epoch 2) is not even looked at.
  ZooDataset ends(reader, {0, 1, 2, 3, 4}, ZooFilter{5.0, {0, 5}});
  EXPECT_EQ(ends.size(), 8);
  EXPECT_EQ(ends.dropped_nonfinite(), 1);
  EXPECT_EQ(ends.dropped_large(), 1);
}

TEST_F(ZooDatasetTest, ReadsOnlyTheRequestedMembers) {
  store::ZooReader reader(dir);
  ZooDataset part(reader, {4, 0}, ZooFilter::from_config(DataConfig{}));
  EXPECT_EQ(part.members(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(part.member_ids(), (std::vector<int64_t>{0, 0, 0, 4, 4, 4}));
  EXPECT_TRUE(part.weights().narrow(0, 3, 3).equal(make_record(4).weights));
  EXPECT_THROW(ZooDataset(reader, {5}, ZooFilter{}), DataError);
  EXPECT_THROW(ZooDataset(reader, {1, 1}, ZooFilter{}), DataError);
}

// data.split_file: a published split reproduced by member id or by run name; unlisted members
// are left out; every mistake names the file and line.
TEST_F(ZooDatasetTest, SplitFileFixesTheMembersOfEachSplit) {
  store::ZooReader reader(dir);
  const std::string file = tmp.path() + "/split.csv";
  spit(file, "split,member,note\ntest,4,x\ntrain,0,\"a, b\"\r\nval,2,\ntrain,3,\n\n");
  const MemberSplit s = read_split_file(file, reader);
  EXPECT_EQ(s.train, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(s.val, (std::vector<int64_t>{2}));
  EXPECT_EQ(s.test, (std::vector<int64_t>{4}));
  DataConfig cfg;
  cfg.split_file = file;
  EXPECT_EQ(member_split(cfg, reader).test, (std::vector<int64_t>{4}));
  cfg.split_file = "";
  EXPECT_EQ(member_split(cfg, reader).train, split_members(5, cfg.split, cfg.split_seed).train);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"member,split\n0,train\n5,test\n", "line 3: member 5 is not in the zoo (5 members)"},
      {"member,split\n0,train\n0,test\n", "line 3: member 0 is listed twice"},
      {"member,split\n0,training\n", "line 2: split 'training' is not train, val or test"},
      {"member,split\nx,train\n", "line 2: member 'x' is not a member id"},
      {"member,split\n0,train,3\n", "line 2: 3 fields, the header has 2"},
      {"id,split\n0,train\n", "needs a split column and one of member or run"},
      {"member,split\n1,test\n", "puts no member in train"},
      {"run,split\nr1,train\n", "the zoo has no run property"},
      {"", "is empty"},
  };
  for (const auto& [text, want] : bad) {
    spit(file, text);
    try {
      read_split_file(file, reader);
      ADD_FAILURE() << text;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
}

TEST(ZooSplit, SplitFileNamesRunsOfImportedZoos) {
  ScratchDir tmp;
  store::ZooHeader h = small_header();
  h.categorical_properties = {"activation", "run"};
  {
    store::ZooWriter w(tmp.zoo(), h, 0);
    for (int64_t m = 0; m < 3; ++m) {
      store::MemberRecord r = make_record(m);
      r.categorical["run"] = "cnn/" + std::to_string(100 + m);
      w.write_member(r);
    }
    dist::LocalCommunicator comm;
    w.finalize(comm, 3);
  }
  store::ZooReader reader(tmp.zoo());
  const std::string file = tmp.path() + "/split.csv";
  spit(file, "run,split\ncnn/102,train\ncnn/100,test\n");
  const MemberSplit s = read_split_file(file, reader);
  EXPECT_EQ(s.train, (std::vector<int64_t>{2}));
  EXPECT_EQ(s.test, (std::vector<int64_t>{0}));
  EXPECT_TRUE(s.val.empty());
  spit(file, "run,split\ncnn/999,train\n");
  EXPECT_THROW(read_split_file(file, reader), DataError);
}

TEST(BlockStandardizer, EqualsADirectComputation) {
  const std::vector<int64_t> blocks = block_sizes_of(small_header());
  ASSERT_EQ(blocks, (std::vector<int64_t>{12, 3, 6}));
  torch::manual_seed(3);
  const torch::Tensor w = torch::randn({50, 21}) * 0.3 + torch::linspace(-1, 1, 21);
  const BlockStandardizer s = BlockStandardizer::compute(w, blocks);
  int64_t off = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const torch::Tensor x = w.narrow(1, off, blocks[b]).to(torch::kFloat64);
    EXPECT_NEAR(s.mean()[b].item<double>(), x.mean().item<double>(), 1e-12);
    EXPECT_NEAR(s.std()[b].item<double>(), x.std(/*unbiased=*/false).item<double>(), 1e-12);
    const torch::Tensor z = s.standardize(w).narrow(1, off, blocks[b]).to(torch::kFloat64);
    EXPECT_NEAR(z.mean().item<double>(), 0.0, 1e-6);
    EXPECT_NEAR(z.std(false).item<double>(), 1.0, 1e-6);
    off += blocks[b];
  }
  EXPECT_TRUE(torch::allclose(s.destandardize(s.standardize(w)), w, 1e-5, 1e-6));

  ScratchDir tmp;
  s.save(tmp.path() + "/stats.pt");
  const BlockStandardizer back = BlockStandardizer::load(tmp.path() + "/stats.pt");
  EXPECT_TRUE(back.mean().equal(s.mean()));
  EXPECT_TRUE(back.std().equal(s.std()));
  EXPECT_EQ(back.block_sizes(), blocks);
  spit(tmp.path() + "/bad.pt", "garbage");
  EXPECT_THROW(BlockStandardizer::load(tmp.path() + "/bad.pt"), DataError);

  // A constant block keeps std 1 so that standardising stays finite.
  const BlockStandardizer c = BlockStandardizer::compute(torch::ones({4, 21}), blocks);
  EXPECT_TRUE(c.std().equal(torch::ones({3}, torch::kFloat64)));
  EXPECT_TRUE(torch::isfinite(c.standardize(torch::ones({2, 21}))).all().item<bool>());
}

}  // namespace
}  // namespace hyperrep::data
