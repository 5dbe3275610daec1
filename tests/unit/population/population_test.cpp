// Population training: a member trained among others equals the member trained alone, and equals
// an independent torch::nn + torch::optim reference with the same init and data order.
#include <gtest/gtest.h>

#include <string>

#include "common/config.h"
#include "population/population.h"
#include "population/population_rng.h"
#include "tasks/image_data.h"
#include "zoo/zoo_spec.h"

namespace hyperrep::population {
namespace {

const std::vector<std::string> kMlp = {"flatten", "linear(16,5,nobias)", "act", "dropout", "linear(5,4,nobias)"};
// A tiny CNN for 4x4 Tetris images: conv, dropout, pool and a linear head.
const std::vector<std::string> kCnn = {"conv(1,4,2)", "act", "dropout", "conv(4,3,2)",
                                       "maxpool(2)",  "act", "flatten", "linear(3,4)"};

// The Small CNN Zoo's layers on 4x4 inputs: a padded and a strided convolution, global pooling.
const std::vector<std::string> kStridedGap = {
    "conv(1,4,3,padding=same)", "act", "conv(4,3,2,stride=2)", "act", "gap", "linear(3,4)"};

zoo::MemberSpec member(int64_t id, int64_t seed, double lr, double wd, double dropout, const std::string& opt = "adam",
                       const std::string& act = "tanh", const std::string& init = "uniform") {
  zoo::MemberSpec m;
  m.id = id, m.seed = seed, m.lr = lr, m.weight_decay = wd, m.dropout = dropout, m.optimizer = opt;
  m.activation = act, m.init = init;
  return m;
}

PopulationOptions options(int64_t epochs, int64_t batch) {
  PopulationOptions o;
  o.epochs = epochs;
  o.batch_size = batch;
  o.keep_epochs = {};
  for (int64_t e = 0; e <= epochs; ++e) o.keep_epochs.push_back(e);
  return o;
}

tasks::TaskData tetris(int64_t n) { return tasks::make_tetris_task(n, 40, 60, 0.1, 5); }

// Trains members together and each alone; every kept epoch's weights must agree.
void expect_population_equals_alone(const std::vector<std::string>& spec, const std::vector<zoo::MemberSpec>& members,
                                    const PopulationOptions& opt) {
  auto task = tetris(103);  // not a multiple of the batch: the last batch is short
  auto arch = zoo::Architecture::parse(spec, task.input_shape);
  auto together = train_population(arch, members, opt, task, torch::kCPU);
  ASSERT_EQ(together.size(), members.size());
  for (size_t i = 0; i < members.size(); ++i) {
    auto alone = train_population(arch, {members[i]}, opt, task, torch::kCPU);
    ASSERT_EQ(alone[0].weights.sizes(), together[i].weights.sizes());
    EXPECT_EQ(together[i].member, members[i].id);
    EXPECT_TRUE(torch::allclose(together[i].weights, alone[0].weights, 1e-4, 1e-5))
        << "member " << i << " max diff " << (together[i].weights - alone[0].weights).abs().max().item<double>();
    // Training moved the weights (the comparison is not between two copies of the init).
    EXPECT_GT((alone[0].weights[-1] - alone[0].weights[0]).abs().max().item<double>(), 1e-2);
    EXPECT_NEAR(together[i].numeric.back().at("test_acc"), alone[0].numeric.back().at("test_acc"), 1e-9);
  }
}

TEST(Population, MlpMemberInPopulationEqualsMemberAlone) {
  std::vector<zoo::MemberSpec> m = {member(0, 1, 1e-2, 0.0, 0.3), member(1, 2, 3e-3, 1e-3, 0.3), member(2, 3, 3e-2, 0.0, 0.3),
                                    member(3, 1, 1e-2, 0.0, 0.3, "adam", "tanh", "kaiming_normal")};
  expect_population_equals_alone(kMlp, m, options(3, 10));
}

TEST(Population, CnnMemberInPopulationEqualsMemberAlone) {
  std::vector<zoo::MemberSpec> m = {member(0, 11, 1e-2, 0.0, 0.2, "sgd", "relu"), member(1, 12, 5e-2, 1e-3, 0.2, "sgd", "relu"),
                                    member(2, 13, 2e-2, 0.0, 0.2, "sgd", "relu", "xavier_uniform")};
  expect_population_equals_alone(kCnn, m, options(3, 7));
  std::vector<zoo::MemberSpec> a = {member(0, 21, 1e-2, 1e-4, 0.5), member(1, 22, 3e-3, 0.0, 0.5)};
  expect_population_equals_alone(kCnn, a, options(2, 10));
}

TEST(Population, ChunksOfMembersDoNotChangeResults) {
  // 5 members in chunks of 2 (the last chunk is short) against all 5 in one chunk, with dropout
  // after a convolution and evaluation chunked by members as well.
  auto task = tetris(53);
  auto arch = zoo::Architecture::parse(kCnn, task.input_shape);
  std::vector<zoo::MemberSpec> m;
  for (int64_t i = 0; i < 5; ++i) m.push_back(member(i, 40 + i, 1e-2 * (i + 1), i % 2 ? 1e-3 : 0.0, 0.3));
  auto opt = options(2, 7);
  opt.chunk_members = 5;
  auto whole = train_population(arch, m, opt, task, torch::kCPU);
  opt.chunk_members = 2;
  auto chunked = train_population(arch, m, opt, task, torch::kCPU);
  for (size_t i = 0; i < m.size(); ++i) {
    // Bitwise: ranks and thread counts change the chunking, and zoos must not depend on them.
    EXPECT_TRUE(torch::equal(whole[i].weights, chunked[i].weights)) << "member " << i;
    EXPECT_GT((whole[i].weights[-1] - whole[i].weights[0]).abs().max().item<double>(), 1e-2);
    for (size_t k = 0; k < whole[i].epochs.size(); ++k) {
      EXPECT_EQ(whole[i].numeric[k].at("val_loss"), chunked[i].numeric[k].at("val_loss"));
      EXPECT_EQ(whole[i].numeric[k].at("train_acc"), chunked[i].numeric[k].at("train_acc"));
    }
  }
}

// side x side images (side even) whose class is the brightest quadrant. At 20 both convolutions
// of the architecture below run on the direct kernels (16 and 12 wide), the second with an input
// gradient.
tasks::TaskData quadrant_task(int64_t n_train, int64_t n_eval, int64_t side = 20) {
  torch::manual_seed(3);
  auto split = [side](int64_t n) {
    tasks::ImageSplit s;
    s.x = torch::rand({n, 1, side, side});
    auto q = s.x.view({n, 2, side / 2, 2, side / 2}).sum({2, 4}).view({n, 4});
    s.y = q.argmax(1);
    return s;
  };
  tasks::TaskData t;
  t.name = "quadrants";
  t.train = split(n_train), t.val = split(n_eval), t.test = split(n_eval);
  t.input_shape = {1, side, side};
  t.num_classes = 4;
  return t;
}

TEST(Population, DirectKernelMembersAreBitwiseTheSameAloneAndAtAnyThreadCount) {
  const std::vector<std::string> spec = {"conv(1,3,5)", "act", "conv(3,4,5)", "maxpool(2)", "act", "flatten", "linear(144,4)"};
  auto task = quadrant_task(45, 30);
  auto arch = zoo::Architecture::parse(spec, task.input_shape);
  std::vector<zoo::MemberSpec> m = {member(0, 5, 1e-2, 0.0, 0.0), member(1, 6, 3e-3, 1e-3, 0.0), member(2, 7, 2e-2, 0.0, 0.0),
                                    member(3, 8, 1e-2, 0.0, 0.2)};
  // Members on part of the images (their last batches are short, then they sit out the steps)
  // beside members on all: still bit for bit what each does alone.
  m[2].train_fraction = 0.5;
  m[3].train_fraction = 0.7;
  const int threads = torch::get_num_threads();
  // Two threads, three members: two chunks in parallel with serial ops inside. Alone, at two
  // threads, the one chunk's kernels and torch ops split their own work over the threads instead.
  torch::set_num_threads(2);
  auto together = train_population(arch, m, options(2, 7), task, torch::kCPU);
  for (size_t i = 0; i < m.size(); ++i) {
    for (int t : {1, 2}) {
      torch::set_num_threads(t);
      auto alone = train_population(arch, {m[i]}, options(2, 7), task, torch::kCPU);
      EXPECT_TRUE(torch::equal(together[i].weights, alone[0].weights)) << "member " << i << ", alone at " << t << " thread(s)";
      EXPECT_EQ(together[i].numeric.back().at("test_loss"), alone[0].numeric.back().at("test_loss"));
    }
    // Trained networks are compared: the weights moved and the training loss fell.
    EXPECT_GT((together[i].weights[-1] - together[i].weights[0]).abs().max().item<double>(), 1e-2);
    EXPECT_LT(together[i].numeric.back().at("train_loss"), together[i].numeric.front().at("train_loss") - 0.01);
  }
  torch::set_num_threads(threads);
}

// The shipped CNN-s hyper-parameter zoo (configs/zoo/fmnist_hyp.toml) as users generate it: 28x28
// images, its dropout layers (at 0 and 0.5), batch 10, its grid's members. Its 24-wide layer runs on the
// direct kernels, the 8-wide one also on the direct input gradient, the 3-wide one on the tiny
// convolutions. Members of one population trained together at two threads are bit for bit each
// member alone at one and at two threads.
TEST(Population, ShippedCnnSZooMembersAreBitwiseTheSameAloneAndAtAnyThreadCount) {
  const auto cfg = load_config(std::string(HYPERREP_SOURCE_DIR) + "/configs/zoo/fmnist_hyp.toml", {"zoo.epochs=2"});
  auto task = quadrant_task(47, 30, 28);
  auto arch = zoo::Architecture::parse(cfg.zoo.architecture, task.input_shape);
  // Tanh and Adam members (one population), two at each dropout rate of the grid.
  std::vector<zoo::MemberSpec> m;
  int at_rate[2] = {0, 0};
  for (const auto& spec : zoo::expand_grid(cfg.zoo)) {
    int& n = at_rate[spec.dropout > 0 ? 1 : 0];
    if (spec.activation == "tanh" && spec.optimizer == "adam" && n < 2) m.push_back(spec), ++n;
  }
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[3].dropout, 0.5);
  const auto opt = population_options(cfg.zoo);
  const int threads = torch::get_num_threads();
  torch::set_num_threads(2);
  auto together = train_population(arch, m, opt, task, torch::kCPU);
  for (size_t i = 0; i < m.size(); ++i) {
    for (int t : {1, 2}) {
      torch::set_num_threads(t);
      auto alone = train_population(arch, {m[i]}, opt, task, torch::kCPU);
      EXPECT_TRUE(torch::equal(together[i].weights, alone[0].weights)) << "member " << i << ", alone at " << t << " thread(s)";
      EXPECT_EQ(together[i].numeric.back().at("test_loss"), alone[0].numeric.back().at("test_loss"));
    }
    EXPECT_GT((together[i].weights[-1] - together[i].weights[0]).abs().max().item<double>(), 1e-3);  // it trained
  }
  torch::set_num_threads(threads);
}

// Rates, train fractions and initialisations vary per member inside one population (only the
// activation and the optimizer split populations); each member still trains as it would alone.
TEST(Population, PerMemberDropoutFractionAndInitEqualAlone) {
  std::vector<zoo::MemberSpec> m = {member(0, 1, 1e-2, 0.0, 0.0), member(1, 2, 3e-3, 1e-3, 0.5),
                                    member(2, 3, 3e-2, 0.0, 0.2, "adam", "tanh", "truncated_normal"),
                                    member(3, 4, 1e-2, 0.0, 0.3, "adam", "tanh", "orthogonal"),
                                    member(4, 5, 1e-2, 0.0, 0.1, "adam", "tanh", "normal")};
  m[1].train_fraction = 0.25;
  m[2].train_fraction = 0.5;
  m[2].init_std = 0.05;
  m[4].init_std = 0.2;
  for (const auto& x : m) EXPECT_EQ(x.structure_key(), m[0].structure_key());
  expect_population_equals_alone(kMlp, m, options(3, 10));
  expect_population_equals_alone(kStridedGap, m, options(2, 7));
  std::vector<zoo::MemberSpec> selu = {member(0, 8, 1e-2, 0.0, 0.2, "sgd", "selu"), member(1, 9, 1e-2, 0.0, 0.0, "sgd", "selu")};
  selu[0].train_fraction = 0.3;
  expect_population_equals_alone(kCnn, selu, options(2, 10));
  std::vector<zoo::MemberSpec> elu = {member(0, 10, 1e-3, 1e-4, 0.1, "rmsprop", "elu"),
                                      member(1, 11, 1e-3, 0.0, 0.4, "rmsprop", "elu")};
  expect_population_equals_alone(kCnn, elu, options(2, 10));
}

TEST(Population, DropoutMasksDifferByMemberSeedAndMatter) {
  auto task = tetris(60);
  auto arch = zoo::Architecture::parse(kMlp, task.input_shape);
  auto with = train_population(arch, {member(0, 1, 1e-2, 0.0, 0.5)}, options(1, 10), task, torch::kCPU);
  auto without = train_population(arch, {member(0, 1, 1e-2, 0.0, 0.0)}, options(1, 10), task, torch::kCPU);
  EXPECT_TRUE(torch::equal(with[0].weights[0], without[0].weights[0]));  // same init
  EXPECT_GT((with[0].weights[1] - without[0].weights[1]).abs().max().item<double>(), 1e-4);
  // Masks: keep rate 1-p, scaled by 1/(1-p), and different streams for different members.
  auto idx = torch::arange(100000, torch::kInt64);
  auto keys = dropout_keys(dropout_bases({1, 2}, torch::kCPU), 1, 0, 3);
  auto m1 = dropout_mask(idx, keys[0], 0.3), m2 = dropout_mask(idx, keys[1], 0.3);
  // A rate per member gives the scalar rate's masks, bit for bit.
  auto both = dropout_mask(idx.view({1, -1}), keys.view({2, 1}), torch::tensor({0.3, 0.6}, torch::kFloat64).view({2, 1}));
  EXPECT_TRUE(torch::equal(both[0], m1));
  EXPECT_TRUE(torch::equal(both[1], dropout_mask(idx, keys[1], 0.6)));
  EXPECT_NEAR(m1.gt(0).to(torch::kFloat64).mean().item<double>(), 0.7, 0.01);
  EXPECT_NEAR(m1.max().item<double>(), 1.0 / 0.7, 1e-6);
  EXPECT_NEAR(m1.eq(m2).to(torch::kFloat64).mean().item<double>(), 0.7 * 0.7 + 0.3 * 0.3, 0.01);  // independent
  EXPECT_EQ(mix32(torch::tensor({int64_t{12345}})).item<int64_t>(), static_cast<int64_t>(mix32(uint32_t{12345})));
}

TEST(Population, InitBoundsFollowTheDocumentedRules) {
  auto arch = zoo::Architecture::parse({"flatten", "linear(400,300)", "act", "linear(300,10)"}, {1, 20, 20});
  auto u = init_member(arch, Init::kUniform, 4, 0.01);
  auto w0 = u.narrow(0, 0, 120000);
  EXPECT_LE(w0.abs().max().item<double>(), 1.0 / 20.0);
  EXPECT_GT(w0.abs().max().item<double>(), 0.99 / 20.0);
  EXPECT_NEAR(u[120000].item<double>(), 0.01, 1e-7);  // the first bias
  auto kn = init_member(arch, Init::kKaimingNormal, 4, 0.0);
  EXPECT_NEAR(kn.narrow(0, 0, 120000).std().item<double>(), std::sqrt(2.0 / 400), 2e-3);
  auto xu = init_member(arch, Init::kXavierUniform, 4, 0.0);
  EXPECT_NEAR(xu.narrow(0, 0, 120000).abs().max().item<double>(), std::sqrt(6.0 / 700), 1e-3);
  auto nm = init_member(arch, Init::kNormal, 4, 0.0);
  EXPECT_NEAR(nm.narrow(0, 0, 120000).std().item<double>(), 1.0 / 20.0, 5e-4);
  EXPECT_TRUE(torch::equal(u, init_member(arch, Init::kUniform, 4, 0.01)));
  EXPECT_FALSE(torch::equal(u, init_member(arch, Init::kUniform, 5, 0.01)));
  // init_std replaces the std of the normal rules (RandomNormal / TruncatedNormal(stddev)).
  EXPECT_NEAR(init_member(arch, Init::kNormal, 4, 0.0, 0.3).narrow(0, 0, 120000).std().item<double>(), 0.3, 3e-3);
  auto tn = init_member(arch, Init::kTruncatedNormal, 4, 0.0, 0.3).narrow(0, 0, 120000);
  EXPECT_LE(tn.abs().max().item<double>(), 0.6);
  EXPECT_NEAR(tn.std().item<double>(), 0.3 * 0.8796, 3e-3);  // the std of N(0,1) truncated at +-2
  EXPECT_LE(init_member(arch, Init::kTruncatedNormal, 4, 0.0).narrow(0, 0, 120000).abs().max().item<double>(), 2.0 / 20.0);
  // Orthogonal: [300, 400] has orthonormal rows, [10, 300] too.
  auto orth = init_member(arch, Init::kOrthogonal, 4, 0.0);
  auto w1 = orth.narrow(0, 0, 120000).view({300, 400}).to(torch::kFloat64);
  EXPECT_LT((w1.mm(w1.t()) - torch::eye(300, torch::kFloat64)).abs().max().item<double>(), 1e-5);
  auto w2 = orth.narrow(0, 120300, 3000).view({10, 300}).to(torch::kFloat64);
  EXPECT_LT((w2.mm(w2.t()) - torch::eye(10, torch::kFloat64)).abs().max().item<double>(), 1e-5);
  EXPECT_FALSE(torch::equal(orth, init_member(arch, Init::kOrthogonal, 5, 0.0)));
  // More outputs than inputs: orthonormal columns.
  auto tall = zoo::Architecture::parse({"flatten", "linear(4,9,nobias)"}, {1, 2, 2});
  auto w3 = init_member(tall, Init::kOrthogonal, 1, 0.0).view({9, 4}).to(torch::kFloat64);
  EXPECT_LT((w3.t().mm(w3) - torch::eye(4, torch::kFloat64)).abs().max().item<double>(), 1e-5);
}

// The member as torch::nn modules, written out by hand for the two test networks (ReLU): the
// reference does not read the Architecture's layer list.
torch::nn::Sequential reference_modules(bool small_cnn_zoo_like) {
  namespace nn = torch::nn;
  if (small_cnn_zoo_like) {  // conv(1,4,3,padding=same) act conv(4,3,2,stride=2) act gap linear(3,4)
    return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 4, 3).padding(1)), nn::ReLU(),
                          nn::Conv2d(nn::Conv2dOptions(4, 3, 2).stride(2)), nn::ReLU(),
                          nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)), nn::Flatten(), nn::Linear(3, 4));
  }
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 4, 2)), nn::ReLU(), nn::Conv2d(nn::Conv2dOptions(4, 3, 2)),
                        nn::MaxPool2d(2), nn::ReLU(), nn::Flatten(), nn::Linear(3, 4));
}

// The reference: torch::nn modules and torch::optim with the member's init and data order.
torch::Tensor reference_train(const zoo::Architecture& arch, torch::nn::Sequential net, const zoo::MemberSpec& m,
                              const tasks::TaskData& task, int64_t epochs, int64_t batch, double momentum) {
  std::vector<torch::Tensor> params = net->parameters();
  auto init = init_member(arch, parse_enum<Init>(m.init, "zoo.init"), m.seed, 0.01);
  {
    torch::NoGradGuard ng;
    int64_t off = 0;
    for (auto& p : params) {
      p.copy_(init.narrow(0, off, p.numel()).view(p.sizes()));
      off += p.numel();
    }
    EXPECT_EQ(off, arch.num_params());
  }
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (m.optimizer == "adam") {
    opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(m.lr).weight_decay(m.weight_decay));
  } else if (m.optimizer == "rmsprop") {
    opt = std::make_unique<torch::optim::RMSprop>(
        params, torch::optim::RMSpropOptions(m.lr).alpha(0.9).eps(1e-8).weight_decay(m.weight_decay));
  } else {
    opt = std::make_unique<torch::optim::SGD>(params,
                                              torch::optim::SGDOptions(m.lr).momentum(momentum).weight_decay(m.weight_decay));
  }
  // The member's own images: all, or its seeded subset (one pass over it per epoch).
  const auto subset = member_subset(m.seed, m.train_fraction, task.train.size());
  const int64_t n = subset.size(0);
  for (int64_t e = 1; e <= epochs; ++e) {
    auto perm = subset.index_select(0, member_permutation(m.seed, e, n));
    for (int64_t s = 0; s < n; s += batch) {
      auto idx = perm.narrow(0, s, std::min(batch, n - s));
      auto x = task.train.x.index_select(0, idx);
      auto y = task.train.y.index_select(0, idx);
      auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
      opt->zero_grad();
      loss.backward();
      opt->step();
    }
  }
  std::vector<torch::Tensor> flat;
  for (auto& p : params) flat.push_back(p.detach().flatten());
  return torch::cat(flat);
}

// Strided and padded convolutions and global average pooling (the Small CNN Zoo's layers; on
// the CPU they run as grouped convolutions) against the same torch::nn reference.
void expect_matches_reference(const std::vector<std::string>& spec, bool small_cnn_zoo_like) {
  auto task = tetris(95);
  auto arch = zoo::Architecture::parse(spec, task.input_shape);
  std::vector<zoo::MemberSpec> adam = {member(0, 31, 1e-2, 1e-3, 0.0, "adam", "relu"),
                                       member(1, 32, 3e-3, 0.0, 0.0, "adam", "relu")};
  std::vector<zoo::MemberSpec> sgd = {member(2, 33, 5e-2, 1e-3, 0.0, "sgd", "relu"),
                                      member(3, 34, 1e-2, 0.0, 0.0, "sgd", "relu")};
  // RMSProp (alpha 0.9, as the Small CNN Zoo recipe sets it) and members on 40% and 75% of the
  // images beside members on all of them: one population each, masked steps for the short ones.
  std::vector<zoo::MemberSpec> rmsprop = {member(4, 35, 1e-3, 1e-3, 0.0, "rmsprop", "relu"),
                                          member(5, 36, 3e-3, 0.0, 0.0, "rmsprop", "relu")};
  std::vector<zoo::MemberSpec> fractions = {member(6, 37, 1e-2, 0.0, 0.0, "adam", "relu"),
                                            member(7, 38, 1e-2, 1e-3, 0.0, "adam", "relu"),
                                            member(8, 39, 2e-2, 0.0, 0.0, "adam", "relu")};
  rmsprop[1].train_fraction = 0.4;
  fractions[0].train_fraction = 0.4;
  fractions[2].train_fraction = 0.75;
  PopulationOptions opt = options(3, 10);
  opt.rmsprop_alpha = 0.9;
  for (const auto& group : {adam, sgd, rmsprop, fractions}) {
    auto got = train_population(arch, group, opt, task, torch::kCPU);
    for (size_t i = 0; i < group.size(); ++i) {
      auto ref = reference_train(arch, reference_modules(small_cnn_zoo_like), group[i], task, 3, 10, 0.9);
      auto w = got[i].weights[-1];
      EXPECT_TRUE(torch::allclose(w, ref, 1e-4, 1e-5))
          << group[i].optimizer << " max diff " << (w - ref).abs().max().item<double>();
      EXPECT_GT((w - got[i].weights[0]).abs().max().item<double>(), 1e-2);
    }
  }
}

torch::nn::Sequential reference_mlp() {  // kMlp with tanh (its dropout layer at rate 0)
  namespace nn = torch::nn;
  return nn::Sequential(nn::Flatten(), nn::Linear(nn::LinearOptions(16, 5).bias(false)), nn::Tanh(),
                        nn::Linear(nn::LinearOptions(5, 4).bias(false)));
}

// Images of two channels (the batch is gathered channel by channel into the members' layout):
// a convolutional and a flat first layer against torch::nn.
TEST(Population, TwoChannelImagesMatchTorchNn) {
  namespace nn = torch::nn;
  auto task = tetris(95);
  for (auto* split : {&task.train, &task.val, &task.test}) split->x = torch::cat({split->x, split->x.flip({3}) * 0.5 - 0.2}, 1);
  task.input_shape = {2, 4, 4};
  std::vector<zoo::MemberSpec> group = {member(0, 41, 1e-2, 1e-3, 0.0, "adam", "relu"),
                                        member(1, 42, 3e-3, 0.0, 0.0, "adam", "relu")};
  group[1].train_fraction = 0.6;
  const std::vector<std::string> conv = {"conv(2,3,2)", "act", "flatten", "linear(27,4)"};
  const std::vector<std::string> flat = {"flatten", "linear(32,6)", "act", "linear(6,4)"};
  for (const auto& spec : {conv, flat}) {
    auto arch = zoo::Architecture::parse(spec, task.input_shape);
    auto got = train_population(arch, group, options(2, 10), task, torch::kCPU);
    for (size_t i = 0; i < group.size(); ++i) {
      auto net = spec == conv
                     ? nn::Sequential(nn::Conv2d(nn::Conv2dOptions(2, 3, 2)), nn::ReLU(), nn::Flatten(), nn::Linear(27, 4))
                     : nn::Sequential(nn::Flatten(), nn::Linear(32, 6), nn::ReLU(), nn::Linear(6, 4));
      auto ref = reference_train(arch, net, group[i], task, 2, 10, 0.9);
      auto w = got[i].weights[-1];
      EXPECT_TRUE(torch::allclose(w, ref, 1e-4, 1e-5))
          << spec[0] << " member " << i << " max diff " << (w - ref).abs().max().item<double>();
      EXPECT_GT((w - got[i].weights[0]).abs().max().item<double>(), 1e-2);
    }
  }
}

TEST(Population, SubsetsAreSeededSortedAndSized) {
  auto a = member_subset(7, 0.25, 1000);
  EXPECT_EQ(a.size(0), 250);
  EXPECT_TRUE(torch::equal(a, member_subset(7, 0.25, 1000)));
  EXPECT_FALSE(torch::equal(a, member_subset(8, 0.25, 1000)));
  EXPECT_TRUE(torch::equal(std::get<0>(a.sort()), a));
  EXPECT_EQ(std::get<0>(torch::_unique(a)).size(0), 250);
  EXPECT_LT(a.max().item<int64_t>(), 1000);
  EXPECT_GT(a.max().item<int64_t>(), 900);  // drawn over all images, not the first 250
  EXPECT_EQ(member_subset(7, 1e-6, 1000).size(0), 1);
  EXPECT_TRUE(torch::equal(member_subset(7, 1.0, 5), torch::arange(5)));
  // Half the images: half the optimizer steps of an epoch (10 images per step).
  auto task = tetris(100);
  auto arch = zoo::Architecture::parse(kMlp, task.input_shape);
  auto half = member(0, 1, 1e-2, 0.0, 0.0, "sgd");
  half.train_fraction = 0.5;
  auto ref_steps = [&](const zoo::MemberSpec& x) {  // SGD without momentum: the step count shows in the weights
    PopulationOptions o = options(1, 10);
    o.momentum = 0.0;
    return train_population(arch, {x}, o, task, torch::kCPU)[0];
  };
  EXPECT_TRUE(
      torch::allclose(ref_steps(half).weights[1], reference_train(arch, reference_mlp(), half, task, 1, 10, 0.0), 1e-5, 1e-6));
}

TEST(Population, MatchesTorchNnAndTorchOptimReference) {
  expect_matches_reference({"conv(1,4,2)", "act", "conv(4,3,2)", "maxpool(2)", "act", "flatten", "linear(3,4)"}, false);
}

TEST(Population, StridedPaddedConvolutionsAndGlobalPoolingMatchTorchNn) { expect_matches_reference(kStridedGap, true); }

TEST(Population, StridedGapMembersInPopulationEqualMembersAlone) {
  std::vector<zoo::MemberSpec> m = {member(0, 41, 1e-2, 0.0, 0.3), member(1, 42, 3e-2, 1e-3, 0.3),
                                    member(2, 43, 2e-2, 0.0, 0.3, "adam", "tanh", "kaiming_normal")};
  std::vector<std::string> with_dropout = kStridedGap;
  with_dropout.insert(with_dropout.begin() + 2, "dropout");
  expect_population_equals_alone(with_dropout, m, options(3, 10));
}

TEST(Population, EvaluationMatchesFunctionalForward) {
  auto task = tetris(50);
  for (const auto& spec : {kCnn, kStridedGap}) {
    auto arch = zoo::Architecture::parse(spec, task.input_shape);
    PopulationOptions opt = options(1, 10);
    opt.eval_budget_floats = 2000;  // several evaluation chunks
    auto rec = train_population(arch, {member(0, 1, 1e-2, 0.0, 0.2), member(1, 2, 1e-2, 0.0, 0.2)}, opt, task, torch::kCPU);
    for (const auto& r : rec) {
      for (size_t k = 0; k < r.epochs.size(); ++k) {
        auto logits = zoo::functional_forward(arch, Activation::kTanh, r.weights[k], task.test.x);
        const double loss = torch::nn::functional::cross_entropy(logits, task.test.y).item<double>();
        const double acc = logits.argmax(1).eq(task.test.y).to(torch::kFloat64).mean().item<double>();
        EXPECT_NEAR(r.numeric[k].at("test_loss"), loss, 1e-5);
        EXPECT_NEAR(r.numeric[k].at("test_acc"), acc, 1e-12);
        EXPECT_NEAR(r.numeric[k].at("ggap"), r.numeric[k].at("train_acc") - acc, 1e-12);
        EXPECT_EQ(r.numeric[k].at("epoch"), static_cast<double>(r.epochs[k]));
      }
      EXPECT_EQ(r.categorical.at("init"), "uniform");
    }
  }
}

}  // namespace
}  // namespace hyperrep::population
