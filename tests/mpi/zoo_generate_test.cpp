// Zoo generation under MPI: the zoo of N ranks holds exactly the weights of the zoo of one
// process, and a run restarted after a kill ends with the same zoo as an uninterrupted one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "distributed/communicator.h"
#include "population/generate.h"
#include "population/population.h"
#include "store/reader.h"
#include "tests/mpi/mpi_env.h"
#include "tests/support/shared_temp_dir.h"
#include "zoo/zoo_spec.h"

namespace hyperrep::population {
namespace {

Config small_zoo(const std::string& path) {
  Config cfg;
  cfg.run.device = "cpu";
  cfg.run.progress_seconds = 1000;
  cfg.zoo.path = path;
  cfg.zoo.task_train_size = 120;
  cfg.zoo.task_val_size = 30;
  cfg.zoo.task_test_size = 50;
  cfg.zoo.architecture = {"flatten", "linear(16,5,nobias)", "act", "dropout", "linear(5,4,nobias)"};
  cfg.zoo.num_seeds = 3;
  cfg.zoo.dropout = {0.0, 0.3};
  cfg.zoo.lr = {1e-2, 3e-3};
  cfg.zoo.epochs = 2;
  cfg.zoo.population_size = 4;  // 12 members in 4 populations of sizes 4, 2, 4, 2
  return cfg;
}

class ZooGenerate : public ::testing::Test {
 protected:
  std::unique_ptr<dist::Communicator> comm = dist::make_communicator(Backend::kAuto, testing::g_runtime);
  testing::SharedTempDir tmp{*comm, "hyperrep_zoo_gen"};
  std::string root = tmp / "root";
};

void expect_same_zoo(const std::string& a, const std::string& b) {
  store::ZooReader ra(a), rb(b);
  ASSERT_EQ(ra.num_members(), 12);
  ASSERT_EQ(rb.num_members(), 12);
  EXPECT_EQ(ra.content_hash(), rb.content_hash());
  for (int64_t m = 0; m < 12; ++m) {
    EXPECT_TRUE(torch::equal(ra.weights(m), rb.weights(m))) << "member " << m;
    EXPECT_EQ(ra.weights(m).size(0), 3);  // epochs 0, 1, 2
  }
}

TEST_F(ZooGenerate, RanksProduceTheZooOfOneProcess) {
  auto stats = generate_zoo(small_zoo(root + "/world"), *comm);
  EXPECT_EQ(stats.members_total, 12);
  EXPECT_EQ(comm->all_reduce_int(stats.members_trained), 12);
  int ok = 1;
  if (comm->rank() == 0) {
    dist::LocalCommunicator local;
    generate_zoo(small_zoo(root + "/single"), local);
    expect_same_zoo(root + "/world", root + "/single");
    ok = ::testing::Test::HasFailure() ? 0 : 1;
    // The stored weights are the trained ones: member 7 retrained alone gives the same rows.
    auto cfg = small_zoo("");
    auto task = tasks::load_task(cfg.zoo);
    auto arch = zoo::Architecture::parse(cfg.zoo.architecture, task.input_shape);
    auto rec = train_population(arch, {zoo::expand_grid(cfg.zoo)[7]}, population_options(cfg.zoo), task, torch::kCPU);
    EXPECT_TRUE(torch::allclose(store::ZooReader(root + "/world").weights(7), rec[0].weights, 1e-5, 1e-6));
  }
  EXPECT_EQ(comm->all_reduce_int(ok, dist::ReduceOp::kMin), 1);
}

TEST_F(ZooGenerate, RestartAfterKillEndsWithTheSameZoo) {
  // A "killed" run: each rank stored the first member of its first population, nothing else.
  const auto cfg = small_zoo(root + "/resumed");
  const auto members = zoo::expand_grid(cfg.zoo);
  const auto pops = zoo::group_populations(members, cfg.zoo.population_size);
  const auto mine = zoo::populations_of_rank(pops.size(), comm->rank(), comm->world_size());
  {
    auto task = tasks::load_task(cfg.zoo);
    auto arch = zoo::Architecture::parse(cfg.zoo.architecture, task.input_shape);
    store::ZooWriter writer(cfg.zoo.path, make_zoo_header(cfg, arch, task.name), comm->rank());
    if (!mine.empty()) {
      auto rec = train_population(arch, {members[pops[mine[0]][0]]}, population_options(cfg.zoo), task, torch::kCPU);
      writer.write_member(rec[0]);
    }
  }
  comm->barrier();
  auto stats = generate_zoo(cfg, *comm);
  EXPECT_EQ(stats.members_skipped, mine.empty() ? 0 : 1);
  EXPECT_EQ(comm->all_reduce_int(stats.members_trained + stats.members_skipped), 12);
  int ok = 1;
  if (comm->rank() == 0) {
    dist::LocalCommunicator local;
    generate_zoo(small_zoo(root + "/uninterrupted"), local);
    expect_same_zoo(root + "/resumed", root + "/uninterrupted");
    ok = ::testing::Test::HasFailure() ? 0 : 1;
  }
  EXPECT_EQ(comm->all_reduce_int(ok, dist::ReduceOp::kMin), 1);
}

}  // namespace
}  // namespace hyperrep::population
