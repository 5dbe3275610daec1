// Task data: the IDX reader on files written here (raw and gzipped, good and broken), the
// Fashion-MNIST package, and the procedural Tetris set.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/fs.h"
#include "tasks/image_data.h"
#include "tests/support/temp_dir.h"

namespace hyperrep::tasks {
namespace {

std::string idx_bytes(const std::vector<int>& dims, const std::vector<uint8_t>& data, uint8_t type = 0x08) {
  std::string b = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (int d : dims) {
    b += static_cast<char>((d >> 24) & 0xff);
    b += static_cast<char>((d >> 16) & 0xff);
    b += static_cast<char>((d >> 8) & 0xff);
    b += static_cast<char>(d & 0xff);
  }
  b.append(data.begin(), data.end());
  return b;
}

class IdxTest : public ::testing::Test {
 protected:
  std::string write_raw(const std::string& name, const std::string& bytes) {
    const auto p = (dir / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  std::string write_gz(const std::string& name, const std::string& bytes) {
    const auto p = (dir / name).string();
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return p;
  }
  testing::TempDir tmp{"hyperrep_idx"};
  std::filesystem::path dir = tmp.path();
};

TEST_F(IdxTest, ReadsRawAndGzippedFilesAlike) {
  std::vector<uint8_t> data(2 * 3 * 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  auto raw = read_idx(write_raw("a", idx_bytes({2, 3, 4}, data)));
  auto gz = read_idx(write_gz("a.gz", idx_bytes({2, 3, 4}, data)));
  ASSERT_EQ(raw.sizes(), torch::IntArrayRef({2, 3, 4}));
  EXPECT_TRUE(raw.equal(gz));
  EXPECT_EQ(raw[1][2][3].item<uint8_t>(), static_cast<uint8_t>(23 * 7));
}

TEST_F(IdxTest, BrokenFilesGiveErrorsNamingTheFile) {
  std::vector<uint8_t> data(10, 1);
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      read_idx(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto good = idx_bytes({10}, data);
  expect_error(write_raw("trunc", good.substr(0, good.size() - 3)), "truncated");
  expect_error(write_raw("long", good + "xx"), "promises 10");
  expect_error(write_raw("magic", "\x01\x02" + good.substr(2)), "bad magic");
  expect_error(write_raw("type", idx_bytes({10}, data, 0x0D)), "element type");
  expect_error(write_raw("short", "\x00\x00"), "too short");
  auto gz = write_gz("cut.gz", idx_bytes({1000}, std::vector<uint8_t>(1000, 3)));
  std::filesystem::resize_file(gz, std::filesystem::file_size(gz) / 2);
  expect_error(gz, "");
  expect_error((dir / "missing").string(), "cannot open");
}

TEST_F(IdxTest, TaskSplitIsSeededAndNormalised) {
  std::vector<uint8_t> imgs(50 * 2 * 2), labels(50), timgs(8 * 2 * 2), tlabels(8);
  for (size_t i = 0; i < imgs.size(); ++i) imgs[i] = static_cast<uint8_t>((i * 37) % 256);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 3);
  for (size_t i = 0; i < timgs.size(); ++i) timgs[i] = static_cast<uint8_t>(i);
  write_gz("train-images-idx3-ubyte.gz", idx_bytes({50, 2, 2}, imgs));
  write_raw("train-labels-idx1-ubyte", idx_bytes({50}, labels));
  write_gz("t10k-images-idx3-ubyte.gz", idx_bytes({8, 2, 2}, timgs));
  write_gz("t10k-labels-idx1-ubyte.gz", idx_bytes({8}, tlabels));
  auto a = load_idx_task(dir.string(), 0, 10, 0, 42);
  auto b = load_idx_task(dir.string(), 0, 10, 0, 42);
  auto c = load_idx_task(dir.string(), 0, 10, 0, 43);
  EXPECT_EQ(a.train.size(), 40);
  EXPECT_EQ(a.val.size(), 10);
  EXPECT_EQ(a.test.size(), 8);
  EXPECT_EQ(a.input_shape, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(a.num_classes, 3);
  EXPECT_TRUE(a.val.x.equal(b.val.x));
  EXPECT_FALSE(a.val.x.equal(c.val.x));
  EXPECT_NEAR(a.train.x.mean().item<double>(), 0.0, 1e-5);
  EXPECT_NEAR(a.train.x.std().item<double>(), 1.0, 1e-5);
  EXPECT_THROW(load_idx_task((dir / "nowhere").string(), 0, 10, 0, 42), DataError);
}

TEST(FashionMnist, DebianPackageLoads) {
  if (!path_exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  auto t = load_idx_task(kFashionMnistDir, 0, 10000, 0, 42);
  EXPECT_EQ(t.train.size(), 50000);
  EXPECT_EQ(t.val.size(), 10000);
  EXPECT_EQ(t.test.size(), 10000);
  EXPECT_EQ(t.num_classes, 10);
  EXPECT_EQ(t.train.x.sizes(), torch::IntArrayRef({50000, 1, 28, 28}));
  // Classes are balanced in the test set: 1000 each.
  EXPECT_EQ(torch::bincount(t.test.y).min().item<int64_t>(), 1000);
}

TEST(Tetris, SeededBalancedAndNoisy) {
  auto a = make_tetris_task(4000, 100, 100, 0.1, 7);
  auto b = make_tetris_task(4000, 100, 100, 0.1, 7);
  EXPECT_TRUE(a.train.x.equal(b.train.x));
  EXPECT_EQ(a.train.x.sizes(), torch::IntArrayRef({4000, 1, 4, 4}));
  auto counts = torch::bincount(a.train.y);
  EXPECT_EQ(counts.numel(), 4);
  EXPECT_GT(counts.min().item<int64_t>(), 900);
  // Clean images have exactly four lit pixels.
  auto clean = make_tetris_task(200, 1, 1, 0.0, 7);
  EXPECT_TRUE(clean.train.x.sum({1, 2, 3}).eq(4).all().item<bool>());
  // Noise has the requested spread around the clean pixels.
  auto noise = a.train.x - a.train.x.round();
  EXPECT_NEAR(noise.std().item<double>(), 0.1, 0.01);
}

}  // namespace
}  // namespace hyperrep::tasks
