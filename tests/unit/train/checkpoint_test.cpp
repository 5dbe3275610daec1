// Checkpoint directories: complete only with DONE, verified on load, interrupted saves never
// picked, retention keep_last + keep_every.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/fs.h"
#include "tests/support/temp_dir.h"
#include "train/checkpoint.h"

namespace hyperrep::train {
namespace {
namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  CheckpointFiles files(int64_t e) {
    return {{"model.pt", std::string(1000 + e, 'm')}, {"optim.pt", "opt" + std::to_string(e)}, {"state.txt", "s"}};
  }
  testing::TempDir tmp{"hyperrep_ckpt"};
  std::string run = tmp / "run";
  dist::LocalCommunicator comm;
};

TEST_F(CheckpointTest, SaveLoadAndLatest) {
  CheckpointManager m(run, 5, 0);
  EXPECT_FALSE(m.latest_complete().has_value());
  m.save(comm, 1, files(1));
  m.save(comm, 2, files(2));
  EXPECT_EQ(m.complete_epochs(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(*m.latest_complete(), 2);
  EXPECT_EQ(m.load(2), files(2));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/epoch_0002/DONE"));
}

TEST_F(CheckpointTest, InterruptedSavesAreNeverPicked) {
  CheckpointManager m(run, 5, 0);
  m.save(comm, 1, files(1));
  // A save killed before DONE: the temporary directory, and a final-named one without DONE.
  make_dirs(run + "/checkpoints/epoch_0002.tmp-999");
  write_file_atomic(run + "/checkpoints/epoch_0002.tmp-999/model.pt", "partial");
  make_dirs(run + "/checkpoints/epoch_0003");
  write_file_atomic(run + "/checkpoints/epoch_0003/model.pt", "partial");
  EXPECT_EQ(*m.latest_complete(), 1);
  m.clean_partial();
  EXPECT_FALSE(fs::exists(run + "/checkpoints/epoch_0002.tmp-999"));
  // epoch_0003 has no DONE: what a kill during retention leaves (DONE goes first). Removed.
  EXPECT_FALSE(fs::exists(run + "/checkpoints/epoch_0003"));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/epoch_0001/DONE"));
}

// A DONE that exists but is not a marker is damage, not an interrupted save: resume and probe
// refuse it, naming the file, instead of falling back to an older checkpoint without a word.
TEST_F(CheckpointTest, DamagedMarkerIsRefusedByName) {
  CheckpointManager m(run, 5, 0);
  m.save(comm, 1, files(1));
  m.save(comm, 2, files(2));
  const std::string done = run + "/checkpoints/epoch_0002/DONE";
  const std::string good = read_file(done);
  for (const std::string& bad :
       std::vector<std::string>{"garbage", good + "extra line\n", good + "model.pt 1 2\n", "hyperrep-checkpoint 1\n"}) {
    write_file_atomic(done, bad);
    try {
      m.latest_complete();
      FAIL() << "accepted DONE: " << bad;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(done), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("damaged checkpoint"), std::string::npos) << e.what();
    }
  }
  write_file_atomic(done, good);
  EXPECT_EQ(*m.latest_complete(), 2);
}

// DONE entries are file names of the checkpoint directory: a path out of it is never opened.
TEST_F(CheckpointTest, MarkerNeverNamesAPathOutOfTheDirectory) {
  CheckpointManager m(run, 5, 0);
  m.save(comm, 1, files(1));
  const std::string done = run + "/checkpoints/epoch_0001/DONE";
  const std::string good = read_file(done);
  for (const std::string name : {"../../../../etc/passwd", "/etc/passwd", "..", "sub/model.pt"}) {
    write_file_atomic(done, good + name + " 10 123\n");
    try {
      m.load(1);
      FAIL() << "accepted " << name;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("not a file of the checkpoint directory"), std::string::npos) << e.what();
    }
  }
}

TEST_F(CheckpointTest, CorruptOrTruncatedFilesNameTheFile) {
  CheckpointManager m(run, 5, 0);
  m.save(comm, 3, files(3));
  const std::string model = run + "/checkpoints/epoch_0003/model.pt";
  {
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('X');
  }
  try {
    m.load(3);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(model), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos);
  }
  fs::resize_file(model, 500);
  try {
    m.load(3);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("has 500 bytes, DONE recorded 1003"), std::string::npos) << e.what();
  }
  fs::remove(model);
  EXPECT_THROW(m.load(3), IoError);
}

TEST_F(CheckpointTest, FilesThatDoneDoesNotRecordNeverBreakTheState) {
  CheckpointManager m(run, 5, 0);
  m.save(comm, 1, files(1));
  write_file_atomic(run + "/checkpoints/epoch_0001/probes.json", "{\"half");  // written beside DONE, never recorded
  auto loaded = m.load(1);
  EXPECT_EQ(loaded.count("probes.json"), 0u);
  EXPECT_EQ(loaded.at("model.pt"), files(1).at("model.pt"));
}

TEST_F(CheckpointTest, RetentionKeepsLastAndEveryM) {
  CheckpointManager m(run, 2, 3);
  for (int64_t e = 1; e <= 8; ++e) m.save(comm, e, files(e));
  EXPECT_EQ(m.complete_epochs(), (std::vector<int64_t>{3, 6, 7, 8}));
  m.save(comm, 8, files(9));  // overwriting an epoch replaces it whole
  EXPECT_EQ(m.load(8), files(9));
}

}  // namespace
}  // namespace hyperrep::train
