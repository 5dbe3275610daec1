// ZooReader on damaged zoos: missing manifest or files, truncated shards, flipped bytes, a
// garbled manifest or CSV. Every case is a clear error naming the file, never a crash.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "store/manifest.h"
#include "store/reader.h"
#include "tests/support/zoo_store_fixture.h"

namespace hyperrep::store {
namespace {

using namespace hyperrep::testing;
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
  // A consumer checks the file against the manifest's checksum first...
  try {
    ZooReader(dir).properties();
    FAIL() << "an edited properties.csv was read";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("properties.csv' does not match the manifest's size and checksum"), std::string::npos)
        << e.what();
  }
  // ...and a file that matches a manifest still has its rows checked against the index.
  ZooManifest m = read_manifest(dir);
  m.properties.crc32 = crc32_bytes(csv.data(), csv.size());
  write_manifest(dir, m);
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
  // Read through a mapping, a shard is checked against the manifest once: a flipped bit is an
  // error naming the file in every consumer (info, export, baseline, train), not only in verify.
  try {
    ZooReader(dir).content_hash();
    FAIL() << "a corrupted shard was read";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(shard + "' fails its checksum"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ZooReader(dir).weights(0), DataError);
  ZooManifest m = read_manifest(dir);  // the same change made legitimately: another zoo
  m.shards[0].crc32 = crc32_bytes(bytes.data(), bytes.size());
  write_manifest(dir, m);
  EXPECT_NE(ZooReader(dir).content_hash(), h);
}

// The manifest checks itself: a flipped byte in its embedded config is an error, not a zoo.
TEST_F(ZooReaderTest, ManifestCarriesItsOwnChecksum) {
  const std::string text = slurp(dir + "/manifest");
  ASSERT_NE(text.find(std::string("\n") + kManifestChecksumTag + " "), std::string::npos);
  const size_t at = text.find("shard-00000.bin");  // a change that still parses
  ASSERT_NE(at, std::string::npos);
  std::string flipped = text;
  flipped[at + 10] = '1';
  spit(dir + "/manifest", flipped);
  EXPECT_NE(error_opening().find("fails its checksum"), std::string::npos) << error_opening();
  EXPECT_THROW(verify_zoo(dir), DataError);
  // Without its checksum line a format-2 manifest was cut short: refused.
  const std::string body = text.substr(0, text.rfind(kManifestChecksumTag));
  spit(dir + "/manifest", body);
  EXPECT_NE(error_opening().find("lost its checksum line"), std::string::npos) << error_opening();
  // A format-1 manifest (no checksum line) still opens, with a warning that it is unchecked.
  const std::string prefix = "serialization::archive ";
  std::istringstream tokens(body.substr(body.find(prefix) + prefix.size()));
  std::string lib, tracking, version;
  tokens >> lib >> tracking >> version;
  ASSERT_EQ(version, std::to_string(kManifestVersion));
  const std::string v2 = prefix + lib + " " + tracking + " " + version + " ";
  const std::string v1 = prefix + lib + " " + tracking + " 1 ";
  ASSERT_EQ(body.find(v2), body.find(prefix));
  std::string old_format = body;
  old_format.replace(body.find(v2), v2.size(), v1);
  spit(dir + "/manifest", old_format);
  EXPECT_EQ(error_opening(), "");
  EXPECT_EQ(ZooReader(dir).num_members(), 5);
}

// What the index says is checked before anything trusts it.
TEST_F(ZooReaderTest, ManifestIndexIsChecked) {
  const ZooManifest good = read_manifest(dir);
  auto refused = [&](ZooManifest m, const std::string& want) {
    write_manifest(dir, m);
    const std::string msg = error_opening();
    EXPECT_NE(msg.find(want), std::string::npos) << "want '" << want << "', got: " << msg;
  };
  ZooManifest m = good;
  std::swap(m.members[0].epochs[0], m.members[0].epochs[1]);
  refused(m, "member 0's epochs are not strictly ascending");
  m = good;
  m.members[2].epochs[1] = m.members[2].epochs[0];
  refused(m, "not strictly ascending");
  m = good;
  m.members[0].epochs = {-1, 2, 5};
  refused(m, "member 0 has a negative epoch -1");
  m = good;
  m.shards[0].path = "../../other/shards/shard-00000.bin";
  refused(m, "is not a file inside the zoo's shards/ directory");
  m = good;
  m.shards[0].path = "/etc/passwd";
  refused(m, "is not a file inside the zoo's shards/ directory");
  m = good;
  m.properties.path = "../properties.csv";
  refused(m, "is not a file name inside the zoo");
  m = good;
  m.header.input_shape = {4000000000000000000LL};
  refused(m, "input shape");
  m = good;
  m.header.input_shape = {1 << 20, 1 << 20, 1 << 20};
  refused(m, "is too large");
  write_manifest(dir, good);
  EXPECT_EQ(error_opening(), "");
}

// A shard that is a FIFO or a link to a device is refused by type, never read (reading would
// block forever or never end); verify reports it and returns.
TEST_F(ZooReaderTest, SpecialFilesAreRefusedNotRead) {
  fs::remove(shard);
  ASSERT_EQ(::mkfifo(shard.c_str(), 0644), 0);
  EXPECT_NE(error_opening().find("is not a regular file"), std::string::npos) << error_opening();
  VerifyReport report = verify_zoo(dir);
  EXPECT_EQ(report.bad_files(), std::vector<std::string>{"shards/shard-00000.bin"});
  EXPECT_EQ(report.files[0].problem, "is not a regular file");
  fs::remove(shard);
  fs::create_symlink("/dev/zero", shard);
  EXPECT_NE(error_opening().find("is not a regular file"), std::string::npos) << error_opening();
  report = verify_zoo(dir);
  EXPECT_EQ(report.files[0].problem, "is not a regular file");
  fs::remove(dir + "/properties.csv");
  ASSERT_EQ(::mkfifo((dir + "/properties.csv").c_str(), 0644), 0);
  EXPECT_EQ(verify_zoo(dir).files[1].problem, "is not a regular file");
}

}  // namespace
}  // namespace hyperrep::store
