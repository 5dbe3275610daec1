// ZooWriter: round trip, canonical content whatever the write order or ranks, resume after a
// kill (torn rows, torn journal lines), header mismatch, missing members, shard splitting.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "store/journal.h"
#include "store/manifest.h"
#include "store/reader.h"
#include "tests/support/zoo_store_fixture.h"

namespace hyperrep::store {
namespace {

using namespace hyperrep::testing;
namespace fs = std::filesystem;

void write_all(const std::string& dir, const std::vector<int64_t>& order, int64_t expected = 5) {
  ZooWriter w(dir, small_header(), 0);
  for (auto m : order) w.write_member(make_record(m));
  dist::LocalCommunicator comm;
  w.finalize(comm, expected);
}

// The files of a finalized single-shard store, byte for byte.
void expect_same_store_files(const std::string& a, const std::string& b) {
  for (const char* file : {"manifest", "properties.csv", "shards/shard-00000.bin"}) {
    EXPECT_EQ(slurp(a + "/" + file), slurp(b + "/" + file)) << file;
  }
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(ZooStore, RoundTripKeepsExactWeightsAndProperties) {
  ScratchDir tmp;
  write_all(tmp.zoo(), {3, 0, 4, 1, 2});
  ZooReader r(tmp.zoo());
  EXPECT_EQ(r.num_members(), 5);
  EXPECT_EQ(r.num_checkpoints(), 3 + 2 + 3 + 3 + 3);
  EXPECT_EQ(r.header().architecture, small_header().architecture);
  for (int64_t m = 0; m < 5; ++m) {
    EXPECT_EQ(r.member(m).epochs, epochs_of(m));
    EXPECT_TRUE(r.weights(m).equal(make_record(m).weights)) << "member " << m;
  }
  EXPECT_FLOAT_EQ(r.row(4, 2)[20].item<float>(), weight_value(4, 2, 20));
  EXPECT_THROW(r.row(1, 2), DataError);  // member 1 keeps epochs 0 and 5 only

  const PropertyTable& p = r.properties();
  ASSERT_EQ(p.rows(), 14);
  EXPECT_EQ(p.numeric_names, (std::vector<std::string>{"test_acc", "lr"}));
  // Row 3 is member 1, epoch 0 (member 0 has three rows).
  EXPECT_EQ(p.member[3], 1);
  EXPECT_EQ(p.epoch[4], 5);
  EXPECT_EQ(p.numeric[4][0], test_acc(1, 5));  // shortest round-trip text: exact
  EXPECT_EQ(p.numeric[4][1], 2e-3);
  EXPECT_EQ(p.categorical[0][0], "tanh, \"scaled\"");
  EXPECT_EQ(p.categorical[3][0], "relu");

  const std::string csv = slurp(tmp.zoo() + "/properties.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "member,epoch,test_acc,lr,activation");
  EXPECT_NE(csv.find("\n0,2,0.35333333333333333,0.001,\"tanh, \"\"scaled\"\"\"\n"), std::string::npos) << csv;
  EXPECT_TRUE(r.verify().ok());
  // The per-rank working files are gone once the manifest exists.
  EXPECT_FALSE(fs::exists(rank_files(tmp.zoo(), 0).journal));
  EXPECT_FALSE(fs::exists(header_path(tmp.zoo())));
}

TEST(ZooStore, FilesDoNotDependOnWriteOrderOrRanks) {
  ScratchDir tmp;
  write_all(tmp.zoo("a"), {0, 1, 2, 3, 4});
  {
    // Three "ranks" writing interleaved members into the same directory, rank 0 finalizes.
    ZooWriter w0(tmp.zoo("b"), small_header(), 0), w1(tmp.zoo("b"), small_header(), 1), w2(tmp.zoo("b"), small_header(), 2);
    w2.write_member(make_record(2));
    w1.write_member(make_record(4));
    w0.write_member(make_record(0));
    w1.write_member(make_record(1));
    w0.write_member(make_record(3));
    dist::LocalCommunicator comm;
    w0.finalize(comm, 5);
  }
  expect_same_store_files(tmp.zoo("a"), tmp.zoo("b"));
  EXPECT_EQ(ZooReader(tmp.zoo("a")).content_hash(), ZooReader(tmp.zoo("b")).content_hash());
  EXPECT_FALSE(fs::exists(rank_files(tmp.zoo("b"), 2).rows));
}

TEST(ZooStore, BatchWritesEqualSingleWritesAndAreAllOrNothing) {
  ScratchDir tmp;
  write_all(tmp.zoo("ref"), {0, 1, 2, 3, 4});
  ZooWriter w(tmp.zoo("batch"), small_header(), 0);
  auto bad = make_record(4);
  bad.epochs = {0, 0, 5};
  EXPECT_THROW(w.write_members({make_record(3), bad}), DataError);
  EXPECT_THROW(w.write_members({make_record(3), make_record(3)}), DataError);
  EXPECT_FALSE(w.has_member(3));  // nothing of a rejected batch is written
  EXPECT_EQ(fs::file_size(rank_files(tmp.zoo("batch"), 0).rows), 0u);
  w.write_members({make_record(3), make_record(0), make_record(4)});
  w.write_members({make_record(1), make_record(2)});
  dist::LocalCommunicator comm;
  w.finalize(comm, 5);
  expect_same_store_files(tmp.zoo("batch"), tmp.zoo("ref"));
}

TEST(ZooStore, ResumeAfterKillKeepsCompleteMembersAndRedoesTornOne) {
  ScratchDir tmp;
  write_all(tmp.zoo("ref"), {0, 1, 2, 3, 4});
  const std::string dir = tmp.zoo("run");
  const RankFiles f = rank_files(dir, 0);
  {
    ZooWriter w(dir, small_header(), 0);
    for (int64_t m : {0, 1, 2}) w.write_member(make_record(m));
  }  // killed: no finalize
  const auto rows_bytes = fs::file_size(f.rows);
  EXPECT_EQ(rows_bytes, (3u + 2u + 3u) * 21u * 4u);
  // A kill in the middle of member 3: part of its rows and properties, half a journal line.
  append_bytes(f.rows, std::string(37, '\x7f'));
  append_bytes(f.props, "3,0,0.6");
  append_bytes(f.journal, "v1 3 8 ");
  {
    ZooWriter w(dir, small_header(), 0);
    for (int64_t m : {0, 1, 2}) EXPECT_TRUE(w.has_member(m)) << m;
    EXPECT_FALSE(w.has_member(3));
    EXPECT_EQ(fs::file_size(f.rows), rows_bytes);  // torn bytes dropped on reopen
    w.write_member(make_record(3));
  }
  // A kill while member 3's journal line was being written: that line is torn, so member 3 is
  // not complete although its rows are all there.
  const std::string journal = slurp(f.journal);
  spit(f.journal, journal.substr(0, journal.size() - 5));
  {
    ZooWriter w(dir, small_header(), 0);
    EXPECT_TRUE(w.has_member(2));
    EXPECT_FALSE(w.has_member(3));
    EXPECT_EQ(fs::file_size(f.rows), rows_bytes);
    EXPECT_EQ(slurp(f.journal), journal.substr(0, journal.rfind('\n', journal.size() - 2) + 1));
    w.write_member(make_record(3));
    w.write_member(make_record(4));
    dist::LocalCommunicator comm;
    w.finalize(comm, 5);
  }
  expect_same_store_files(dir, tmp.zoo("ref"));
}

TEST(ZooStore, ResumeWithAnotherWorldSizeSkipsEveryRanksMembers) {
  ScratchDir tmp;
  write_all(tmp.zoo("ref"), {0, 1, 2, 3, 4});
  const std::string dir = tmp.zoo("run");
  {
    // A two-rank run killed after rank 1 wrote members 1 and 3 and rank 0 member 0.
    ZooWriter w0(dir, small_header(), 0), w1(dir, small_header(), 1);
    w1.write_member(make_record(1));
    w1.write_member(make_record(3));
    w0.write_member(make_record(0));
  }
  ZooWriter w(dir, small_header(), 0);  // resumed by one process
  EXPECT_TRUE(w.has_member(0));
  EXPECT_TRUE(w.has_member(1));
  EXPECT_TRUE(w.has_member(3));
  EXPECT_FALSE(w.has_member(2));
  w.write_member(make_record(2));
  w.write_member(make_record(4));
  dist::LocalCommunicator comm;
  w.finalize(comm, 5);
  expect_same_store_files(dir, tmp.zoo("ref"));
  EXPECT_FALSE(fs::exists(rank_files(dir, 1).journal));
}

TEST(ZooStore, GarbledJournalLineEndsTheCompletePrefix) {
  ScratchDir tmp;
  const std::string dir = tmp.zoo();
  {
    ZooWriter w(dir, small_header(), 0);
    for (int64_t m : {0, 1, 2}) w.write_member(make_record(m));
  }
  std::string journal = slurp(rank_files(dir, 0).journal);
  const size_t second = journal.find('\n') + 1;
  journal[second + 3] = journal[second + 3] == '1' ? '7' : '1';  // member id of line 2 flipped
  spit(rank_files(dir, 0).journal, journal);
  ZooWriter w(dir, small_header(), 0);
  EXPECT_TRUE(w.has_member(0));
  EXPECT_FALSE(w.has_member(1));
  EXPECT_FALSE(w.has_member(2));  // after a damaged line nothing is trusted
  EXPECT_EQ(fs::file_size(rank_files(dir, 0).rows), 3u * 21u * 4u);
}

TEST(ZooStore, ReopeningWithAnotherHeaderFails) {
  ScratchDir tmp;
  { ZooWriter(tmp.zoo(), small_header(), 0).write_member(make_record(0)); }
  ZooHeader other = small_header();
  other.architecture[1] = "linear(4,3,nobias)";
  other.num_params = 18;
  const std::string msg = error_of([&] { ZooWriter w(tmp.zoo(), other, 0); });
  EXPECT_NE(msg.find("different header: architecture"), std::string::npos) << msg;
  EXPECT_THROW(ZooWriter(tmp.zoo(), other, 0), ConfigError);
  other = small_header();
  other.categorical_properties.push_back("init");
  EXPECT_NE(error_of([&] { ZooWriter w(tmp.zoo(), other, 1); }).find("categorical_properties"), std::string::npos);
}

TEST(ZooStore, FinalizeWithMissingMembersFailsAndCanResume) {
  ScratchDir tmp;
  dist::LocalCommunicator comm;
  {
    ZooWriter w(tmp.zoo(), small_header(), 0);
    for (int64_t m : {0, 1, 3}) w.write_member(make_record(m));
    const std::string msg = error_of([&] { w.finalize(comm, 5); });
    EXPECT_NE(msg.find("missing 2 of 5 members (2, 4)"), std::string::npos) << msg;
    EXPECT_THROW(w.finalize(comm, 5), DataError);
  }
  EXPECT_FALSE(fs::exists(manifest_path(tmp.zoo())));
  EXPECT_THROW(ZooReader r(tmp.zoo()), DataError);
  {
    ZooWriter w(tmp.zoo(), small_header(), 0);
    w.write_member(make_record(2));
    w.write_member(make_record(4));
    w.finalize(comm, 5);
  }
  EXPECT_EQ(ZooReader(tmp.zoo()).num_checkpoints(), 14);
}

TEST(ZooStore, MembersBeyondExpectedOrWrittenTwiceAreRejected) {
  ScratchDir tmp;
  dist::LocalCommunicator comm;
  ZooWriter w(tmp.zoo(), small_header(), 0);
  w.write_member(make_record(0));
  EXPECT_THROW(w.write_member(make_record(0)), DataError);
  auto bad = make_record(1);
  bad.weights = bad.weights.narrow(1, 0, 20);
  EXPECT_THROW(w.write_member(bad), DataError);
  bad = make_record(1);
  bad.numeric[1].erase("lr");
  EXPECT_NE(error_of([&] { w.write_member(bad); }).find("missing numeric property 'lr'"), std::string::npos);
  w.write_member(make_record(1));
  EXPECT_NE(error_of([&] { w.finalize(comm, 1); }).find("member 1 in"), std::string::npos);
}

TEST(ZooStore, CompleteZooReopensAsDone) {
  ScratchDir tmp;
  write_all(tmp.zoo(), {0, 1, 2, 3, 4});
  const std::string manifest = slurp(manifest_path(tmp.zoo()));
  ZooWriter w(tmp.zoo(), small_header(), 0);
  for (int64_t m = 0; m < 5; ++m) EXPECT_TRUE(w.has_member(m));
  EXPECT_THROW(w.write_member(make_record(5)), DataError);
  dist::LocalCommunicator comm;
  w.finalize(comm, 5);
  EXPECT_THROW(w.finalize(comm, 6), DataError);
  EXPECT_EQ(slurp(manifest_path(tmp.zoo())), manifest);
}

TEST(ZooStore, ShardsSplitAtTargetSizeWithoutSplittingMembers) {
  ScratchDir tmp;
  {
    ZooWriter w(tmp.zoo(), small_header(), 0);
    w.set_shard_target_bytes(6 * 21 * 4);  // two three-row members per shard
    for (int64_t m = 0; m < 5; ++m) w.write_member(make_record(m));
    dist::LocalCommunicator comm;
    w.finalize(comm, 5);
  }
  ZooReader r(tmp.zoo());
  // Rows per member 3,2,3,3,3: {0,1} = 5 rows, {2,3} = 6 rows, {4} = 3 rows.
  ASSERT_EQ(r.manifest().shards.size(), 3u);
  EXPECT_EQ(r.manifest().shards[0].rows, 5);
  EXPECT_EQ(r.manifest().shards[1].rows, 6);
  EXPECT_EQ(r.member(3).shard, 1);
  EXPECT_EQ(r.member(3).first_row, 3);
  EXPECT_EQ(r.global_row(3), 8);
  for (int64_t m = 0; m < 5; ++m) EXPECT_TRUE(r.weights(m).equal(make_record(m).weights));
  EXPECT_TRUE(r.verify().ok());
}

TEST(ZooStore, CorruptedRankFileIsCaughtAtFinalize) {
  ScratchDir tmp;
  ZooWriter w(tmp.zoo(), small_header(), 0);
  w.write_member(make_record(0));
  std::string rows = slurp(rank_files(tmp.zoo(), 0).rows);
  rows[17] ^= 0x40;
  spit(rank_files(tmp.zoo(), 0).rows, rows);
  dist::LocalCommunicator comm;
  const std::string msg = error_of([&] { w.finalize(comm, 1); });
  EXPECT_NE(msg.find("rank-00000.bin': rows of member 0 are corrupted"), std::string::npos) << msg;
}

}  // namespace
}  // namespace hyperrep::store
