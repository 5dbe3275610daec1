// The generalisation benchmark's published split files as a data.split_file: Python's
// random.Random(0) reproduced bit for bit (values printed by CPython 3.11), and the protocol on a
// small metrics file whose expected split CPython computed.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "common/error.h"
#include "common/fs.h"
#include "interop/nfn_split.h"

using namespace hyperrep;

TEST(PythonRandom, MatchesCPython) {
  interop::PythonRandom r(0);
  EXPECT_EQ(r.getrandbits32(), 3626764237u);
  EXPECT_EQ(r.getrandbits32(), 1654615998u);
  EXPECT_EQ(r.getrandbits32(), 3255389356u);
  std::vector<int64_t> x(10);
  std::iota(x.begin(), x.end(), 0);
  interop::PythonRandom(0).shuffle(x);
  EXPECT_EQ(x, (std::vector<int64_t>{7, 8, 1, 5, 3, 4, 2, 0, 9, 6}));
  std::vector<int64_t> big(1000);
  std::iota(big.begin(), big.end(), 0);
  interop::PythonRandom(0).shuffle(big);
  EXPECT_EQ(std::vector<int64_t>(big.begin(), big.begin() + 8), (std::vector<int64_t>{439, 621, 160, 549, 237, 389, 658, 507}));
  int64_t weighted = 0;
  for (int64_t i = 0; i < 1000; ++i) weighted += i * big[static_cast<size_t>(i)];
  EXPECT_EQ(weighted, 251292570);
  std::vector<int64_t> large(134999);  // half of a published zoo's final rows
  std::iota(large.begin(), large.end(), 0);
  interop::PythonRandom(0).shuffle(large);
  EXPECT_EQ(std::vector<int64_t>(large.begin(), large.begin() + 6),
            (std::vector<int64_t>{8223, 127626, 26310, 27679, 71910, 52321}));
  EXPECT_EQ(large.back(), 100989);
}

class NfnSplit : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("nfn_split_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "zoo");
    // Runs r0..r9, rows 2i (step 0) and 2i + 1 (step 86); an unnamed index column as published.
    std::string m = ",modeldir,step,test_accuracy\n";
    for (int i = 0; i < 10; ++i)
      m += std::to_string(2 * i) + ",r" + std::to_string(i) + ",0,0.1\n" + std::to_string(2 * i + 1) + ",r" + std::to_string(i) +
           ",86,0.5\n";
    write_file_atomic((dir_ / "zoo/metrics.csv").string(), m);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(NfnSplit, FollowsTheProtocolAsPythonComputesIt) {
  std::string idx;
  for (int r = 19; r >= 0; --r) idx += std::to_string(r) + "\n";  // the final rows read r9, r8, ..., r0
  write_file_atomic(path("idx.csv"), idx);
  const auto res = interop::convert_nfn_split(path("idx.csv"), path("zoo"), path("split.csv"));
  EXPECT_EQ(res.rows, 20);
  EXPECT_EQ(res.final_rows, 10);
  EXPECT_EQ(res.train, 4);
  EXPECT_EQ(res.val, 1);
  EXPECT_EQ(res.test, 5);
  // CPython: random.Random(0).shuffle([0..4]) = [2, 1, 0, 4, 3] over (r9, r8, r7, r6, r5); the
  // first 4 train, the last val; the second half (r4..r0) test.
  EXPECT_EQ(read_file(path("split.csv")),
            "run,split\nr7,train\nr8,train\nr9,train\nr5,train\nr6,val\nr4,test\nr3,test\nr2,test\nr1,test\nr0,test\n");
}

TEST_F(NfnSplit, RefusesFilesOfAnotherDataset) {
  write_file_atomic(path("short.csv"), "0\n1\n2\n");
  EXPECT_THROW(
      {
        try {
          interop::convert_nfn_split(path("short.csv"), path("zoo"), path("out.csv"));
        } catch (const DataError& e) {
          EXPECT_NE(std::string(e.what()).find("lists 3 rows"), std::string::npos) << e.what();
          throw;
        }
      },
      DataError);
  std::string twice;
  for (int r = 0; r < 19; ++r) twice += std::to_string(r) + "\n";
  write_file_atomic(path("twice.csv"), twice + "3\n");
  EXPECT_THROW(interop::convert_nfn_split(path("twice.csv"), path("zoo"), path("out.csv")), DataError);
  write_file_atomic(path("range.csv"), "25\n");
  EXPECT_THROW(interop::convert_nfn_split(path("range.csv"), path("zoo"), path("out.csv")), DataError);
  EXPECT_FALSE(std::filesystem::exists(path("out.csv")));
}
