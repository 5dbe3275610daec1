// The zoo store across ranks: members written by alternate ranks give the same files and
// content hash as one process writing all; a missing member fails on every rank (no hang);
// standardisation statistics all-reduced from rank slices equal those of the whole split.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "common/error.h"
#include "data/zoo_dataset.h"
#include "distributed/mpi_communicator.h"
#include "store/reader.h"
#include "tests/mpi/mpi_env.h"
#include "tests/support/shared_temp_dir.h"
#include "tests/support/zoo_store_fixture.h"

namespace hyperrep::store {
namespace {

using namespace hyperrep::testing;

TEST(MpiZooStore, AlternateRanksEqualOneRank) {
  dist::MpiCommunicator comm(*hyperrep::testing::g_runtime);
  const int rank = comm.rank(), world = comm.world_size();
  testing::SharedTempDir dir(comm);
  constexpr int64_t kMembers = 7;
  {
    ZooWriter w(dir / "ranks", small_header(), rank);
    for (int64_t m = rank; m < kMembers; m += world) w.write_member(make_record(m));
    w.finalize(comm, kMembers);
  }
  if (rank == 0) {
    ZooWriter w(dir / "single", small_header(), 0);
    for (int64_t m = 0; m < kMembers; ++m) w.write_member(make_record(m));
    dist::LocalCommunicator local;
    w.finalize(local, kMembers);
  }
  comm.barrier();
  ZooReader ranks(dir / "ranks"), single(dir / "single");
  EXPECT_EQ(ranks.content_hash(), single.content_hash());
  for (const char* f : {"manifest", "properties.csv", "shards/shard-00000.bin"}) {
    EXPECT_EQ(slurp(dir / ("ranks/" + std::string(f))), slurp(dir / ("single/" + std::string(f)))) << f;
  }
  EXPECT_TRUE(ranks.verify().ok());
  // Every rank agrees on the hash of the zoo it just wrote together.
  const auto hashes = comm.all_gather_bytes(ranks.content_hash());
  for (const auto& h : hashes) EXPECT_EQ(h, hashes[0]);
}

TEST(MpiZooStore, MissingMemberFailsOnEveryRank) {
  dist::MpiCommunicator comm(*hyperrep::testing::g_runtime);
  const int rank = comm.rank(), world = comm.world_size();
  testing::SharedTempDir dir(comm);
  ZooWriter w(dir / "zoo", small_header(), rank);
  for (int64_t m = rank; m < 4; m += world) {
    if (m != 2) w.write_member(make_record(m));
  }
  try {
    w.finalize(comm, 4);
    ADD_FAILURE() << "finalize succeeded without member 2";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("missing 1 of 4 members (2)"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "zoo/manifest"));
}

TEST(MpiZooStore, StandardizerFromRankSlicesEqualsWholeSplit) {
  dist::MpiCommunicator comm(*hyperrep::testing::g_runtime);
  const int rank = comm.rank(), world = comm.world_size();
  const std::vector<int64_t> blocks = data::block_sizes_of(small_header());
  torch::manual_seed(11);  // same tensor on every rank
  const torch::Tensor all = torch::randn({23, 21}) * 2 + 0.5;
  const torch::Tensor mine = all.index_select(0, torch::arange(rank, 23, world));
  const auto whole = data::BlockStandardizer::compute(all, blocks);
  const auto reduced = data::BlockStandardizer::compute(mine, blocks, &comm);
  EXPECT_TRUE(torch::allclose(reduced.mean(), whole.mean(), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(reduced.std(), whole.std(), 1e-12, 1e-12));
}

}  // namespace
}  // namespace hyperrep::store
