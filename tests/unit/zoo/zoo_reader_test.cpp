// ZooReader on damaged zoos: missing manifest or files, truncated shards, flipped bytes, a
// garbled manifest or CSV. Every case is a clear error naming the file, never a crash.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "tests/unit/zoo/zoo_store_fixture.h"
#include "zoo/zoo_manifest.h"
#include "zoo/zoo_reader.h"

namespace hyperrep::zoo {
namespace {

using namespace hyperrep::zoo::testing;
namespace fs = std::filesystem;

class ZooReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = tmp.zoo("zoo" + std::to_string(made_++));  // SetUp may run again for a fresh zoo
    ZooWriter w(dir, small_header(), 0);
    for (int64_t m = 0; m < 5; ++m) w.write_member(make_record(m));
    dist::LocalCommunicator comm;
    w.finalize(comm, 5);
    shard = dir + "/shards/shard-00000.bin";
  }
  std::string error_opening() {
    try {
      ZooReader r(dir);
    } catch (const DataError& e) {
      return e.what();
    }
    return "";
  }
  ScratchDir tmp;
  std::string dir, shard;
  int made_ = 0;
};

TEST_F(ZooReaderTest, MissingManifestMeansIncomplete) {
  fs::remove(dir + "/manifest");
  const std::string msg = error_opening();
  EXPECT_NE(msg.find("zoo at " + dir + " is incomplete or missing: no manifest"), std::string::npos) << msg;
  dir = tmp.zoo("nowhere");
  EXPECT_NE(error_opening().find("no manifest"), std::string::npos);
}

TEST_F(ZooReaderTest, TruncatedShardNamesFileAndByteCounts) {
  const auto full = fs::file_size(shard);
  EXPECT_EQ(full, 14u * 21u * 4u);
  fs::resize_file(shard, full - 10);
  const std::string msg = error_opening();
  EXPECT_NE(msg.find("'" + shard + "' has 1166 bytes, the manifest expects 1176 (truncated)"), std::string::npos) << msg;
}

TEST_F(ZooReaderTest, MissingFilesAreNamed) {
  fs::remove(shard);
  EXPECT_NE(error_opening().find("missing file '" + shard + "'"), std::string::npos);
  SetUp();
  fs::remove(dir + "/properties.csv");
  EXPECT_NE(error_opening().find("properties.csv"), std::string::npos);
}

TEST_F(ZooReaderTest, GarbledManifestIsADataErrorNamingIt) {
  spit(dir + "/manifest", "22 serialization::archive 19 0 0 hello");
  EXPECT_NE(error_opening().find(dir + "/manifest"), std::string::npos);
  spit(dir + "/manifest", "not an archive at all");
  EXPECT_NE(error_opening().find(dir + "/manifest"), std::string::npos);
  SetUp();
  std::string text = slurp(dir + "/manifest");
  spit(dir + "/manifest", text.substr(0, text.size() / 2));
  EXPECT_NE(error_opening().find(dir + "/manifest"), std::string::npos);
}

TEST_F(ZooReaderTest, VerifyNamesTheCorruptedFile) {
  {
    ZooReader r(dir);
    ASSERT_TRUE(r.verify().ok());
  }
  std::string bytes = slurp(shard);
  bytes[400] ^= 0x01;
  spit(shard, bytes);
  ZooReader r(dir);  // sizes still right: opens
  const VerifyReport report = r.verify();
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.bad_files(), std::vector<std::string>{"shards/shard-00000.bin"});
  EXPECT_NE(report.files[0].problem.find("CRC32"), std::string::npos);

  std::string csv = slurp(dir + "/properties.csv");
  csv[csv.size() - 3] = 'X';
  spit(dir + "/properties.csv", csv);
  EXPECT_EQ(ZooReader(dir).verify().bad_files(), (std::vector<std::string>{"shards/shard-00000.bin", "properties.csv"}));

  // verify_zoo lists every bad file even when the zoo cannot be opened any more.
  fs::resize_file(shard, 100);
  EXPECT_THROW(ZooReader r2(dir), DataError);
  const VerifyReport truncated = verify_zoo(dir);
  EXPECT_EQ(truncated.bad_files(), (std::vector<std::string>{"shards/shard-00000.bin", "properties.csv"}));
  EXPECT_EQ(truncated.files[0].problem, "has 100 bytes, the manifest expects 1176");
  fs::remove(shard);
  EXPECT_EQ(verify_zoo(dir).files[0].problem, "missing");
}

TEST_F(ZooReaderTest, DamagedPropertiesNameFileAndLine) {
  std::string csv = slurp(dir + "/properties.csv");
  const size_t third = csv.find('\n', csv.find('\n') + 1) + 1;  // line 3 = member 0, epoch 2
  csv.replace(third, 1, "7");
  spit(dir + "/properties.csv", csv);
  ZooReader r(dir);
  try {
    r.properties();
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("properties.csv:3: row is (member 7, epoch 2), the manifest expects (0, 2)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(ZooReaderTest, ViewsAliasTheMappingAndOutliveTheReader) {
  torch::Tensor view;
  {
    ZooReader r(dir);
    view = r.weights_view(3);
    EXPECT_EQ(view.sizes(), (std::vector<int64_t>{3, 21}));
    EXPECT_EQ(r.global_row(3), 8);
    EXPECT_EQ(r.epoch_row(3, 5), 2);
    EXPECT_THROW(r.member(5), DataError);
    EXPECT_THROW(r.member(-1), DataError);
  }
  EXPECT_FLOAT_EQ(view[2][7].item<float>(), weight_value(3, 5, 7));
}

TEST_F(ZooReaderTest, ContentHashSeesOneChangedWeight) {
  const std::string h = ZooReader(dir).content_hash();
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(ZooReader(dir).content_hash(), h);
  std::string bytes = slurp(shard);
  bytes[4 * 100] ^= 0x01;
  spit(shard, bytes);
  EXPECT_NE(ZooReader(dir).content_hash(), h);
}

}  // namespace
}  // namespace hyperrep::zoo
