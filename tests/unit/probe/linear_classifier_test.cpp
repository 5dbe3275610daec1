// Linear softmax classifier probe: separable classes, random labels, determinism, and its
// hand-written gradients and Adam against LibTorch's autograd and torch::optim::Adam.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "common/error.h"
#include "distributed/communicator.h"
#include "probe/linear_classifier.h"

namespace hyperrep::probe {
namespace {

// Three Gaussian blobs in 6 dimensions with an offset and mixed scales, labels 0..2.
std::pair<torch::Tensor, torch::Tensor> blobs(int64_t per_class, uint64_t seed, double spread) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto centres = torch::tensor({{4.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 4.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 4.0, 0.0, 0.0, 0.0}},
                               torch::kFloat64);
  auto labels = torch::arange(3, torch::kInt64).repeat_interleave(per_class);
  auto x = centres.index_select(0, labels) + spread * torch::randn({3 * per_class, 6}, gen, torch::kFloat64);
  auto scales = torch::tensor({1.0, 10.0, 0.1, 1.0, 5.0, 1.0}, torch::kFloat64);
  return {x * scales + 3.0, labels};
}

TEST(LinearClassifier, SeparableClassesReachFullTestAccuracy) {
  dist::LocalCommunicator comm;
  auto [xt, yt] = blobs(60, 1, 0.5);
  auto [xs, ys] = blobs(40, 2, 0.5);
  ClassifierOptions o;  // METHOD.md's defaults except a larger lr, so 20 epochs suffice
  o.lr = 1e-2;
  o.epochs = 20;
  LinearClassifierProbe clf(o);
  clf.fit(xt, yt, 3, comm);
  EXPECT_DOUBLE_EQ(clf.accuracy(xs, ys, comm), 1.0);
  EXPECT_DOUBLE_EQ(clf.accuracy(xt, yt, comm), 1.0);
  EXPECT_LT(clf.final_train_loss(), 0.1);
}

TEST(LinearClassifier, DefaultRecipeLearnsSeparableClasses) {
  dist::LocalCommunicator comm;
  // lr 1e-4 moves a weight by at most ~1e-4 per step: the recipe needs thousands of steps,
  // which the zoos' tens of thousands of checkpoints give (here 200 steps x 50 epochs).
  auto [xt, yt] = blobs(667, 3, 0.5);
  auto [xs, ys] = blobs(50, 4, 0.5);
  LinearClassifierProbe clf;  // Adam 1e-4, wd 1e-6, 50 epochs, batch 10
  clf.fit(xt, yt, 3, comm);
  EXPECT_DOUBLE_EQ(clf.accuracy(xs, ys, comm), 1.0);
}

TEST(LinearClassifier, RandomLabelsStayNearChance) {
  dist::LocalCommunicator comm;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto xt = torch::randn({400, 10}, gen, torch::kFloat64), xs = torch::randn({400, 10}, gen, torch::kFloat64);
  auto yt = torch::randint(0, 4, {400}, gen, torch::kInt64), ys = torch::randint(0, 4, {400}, gen, torch::kInt64);
  ClassifierOptions o;
  o.lr = 1e-2;
  o.epochs = 10;
  LinearClassifierProbe clf(o);
  clf.fit(xt, yt, 4, comm);
  const double acc = clf.accuracy(xs, ys, comm);  // chance 0.25, std 0.022 on 400 rows
  EXPECT_GT(acc, 0.15);
  EXPECT_LT(acc, 0.35);
}

TEST(LinearClassifier, DeterministicForASeed) {
  dist::LocalCommunicator comm;
  auto [x, y] = blobs(20, 6, 2.0);
  ClassifierOptions o;
  o.epochs = 3;
  o.seed = 11;
  LinearClassifierProbe a(o), b(o);
  a.fit(x, y, 3, comm);
  b.fit(x, y, 3, comm);
  EXPECT_TRUE(torch::equal(a.weight(), b.weight()));
  EXPECT_TRUE(torch::equal(a.bias(), b.bias()));
  o.seed = 12;
  LinearClassifierProbe c(o);
  c.fit(x, y, 3, comm);
  EXPECT_FALSE(torch::equal(a.weight(), c.weight()));
}

TEST(LinearClassifier, StepsEqualAutogradWithTorchAdam) {
  dist::LocalCommunicator comm;
  auto [x, y] = blobs(8, 7, 1.0);
  ClassifierOptions o;
  o.epochs = 4;
  o.batch_size = 24;  // one full batch per epoch: the shuffle does not change the gradient
  o.lr = 0.05;
  o.weight_decay = 0.01;
  o.seed = 3;
  o.standardize = false;
  LinearClassifierProbe clf(o);
  clf.fit(x, y, 3, comm);
  // Reference: the same initial draw (torch.nn.Linear's bounds from a generator seeded alike).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const double bound = 1.0 / std::sqrt(6.0);
  auto w = torch::empty({3, 6}, torch::kFloat64).uniform_(-bound, bound, gen).requires_grad_();
  auto b = torch::empty({3}, torch::kFloat64).uniform_(-bound, bound, gen).requires_grad_();
  torch::optim::Adam adam({w, b}, torch::optim::AdamOptions(0.05).weight_decay(0.01));
  for (int epoch = 0; epoch < 4; ++epoch) {
    adam.zero_grad();
    torch::nn::functional::cross_entropy(torch::addmm(b, x, w.t()), y).backward();
    adam.step();
  }
  EXPECT_TRUE(torch::allclose(clf.weight(), w.detach(), 1e-10, 1e-12)) << clf.weight() << w;
  EXPECT_TRUE(torch::allclose(clf.bias(), b.detach(), 1e-10, 1e-12));
}

TEST(LinearClassifier, RejectsBadInput) {
  dist::LocalCommunicator comm;
  LinearClassifierProbe clf;
  EXPECT_THROW(clf.fit(torch::zeros({4, 2}), torch::tensor({0, 1, 2, 1}), 2, comm), DataError);  // label 2 of 2 classes
  EXPECT_THROW(clf.fit(torch::zeros({4, 2}), torch::tensor({0, 1}), 2, comm), DataError);
  EXPECT_THROW(clf.predict(torch::zeros({1, 2})), DataError);  // not fitted
}

}  // namespace
}  // namespace hyperrep::probe
