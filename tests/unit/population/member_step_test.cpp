// The hand-written member step against autograd through an independent forward: for every layer
// kind and activation, the gradients of each member's mean cross-entropy equal those of torch's
// own ops on that member alone.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "population/member_step.h"
#include "population/population.h"
#include "tasks/image_data.h"

namespace hyperrep::population {
namespace {

struct Case {
  std::string name;
  std::vector<std::string> spec;
  std::vector<int64_t> input;
};

std::vector<Case> cases() {
  return {
      // Direct kernels (8 wide), max-pool, an im2col convolution (2 wide), loop-sized linear layers.
      {"cnn",
       {"conv(1,4,5)", "maxpool(2)", "act", "conv(4,3,3)", "act", "flatten", "linear(12,5)", "act", "linear(5,3)"},
       {1, 12, 12}},
      // Two input channels, padding, average pooling, a strided convolution, global pooling.
      {"strided",
       {"conv(2,4,3,padding=same)", "act", "avgpool(2)", "conv(4,3,3,stride=2)", "act", "gap", "linear(3,4)"},
       {2, 10, 10}},
      // Max-pool over odd sizes (the last row and column get no gradient), no biases.
      {"odd", {"conv(1,3,2,nobias)", "maxpool(2)", "act", "flatten", "linear(96,3,nobias)"}, {1, 10, 18}},
      // The batch arrives flat; a linear layer above the loop size (batched products).
      {"mlp", {"flatten", "linear(144,40)", "act", "linear(40,3)"}, {1, 12, 12}},
  };
}

// The member's gradient through zoo::functional_forward and autograd.
torch::Tensor autograd_gradient(const zoo::Architecture& arch, Activation act, const torch::Tensor& w, const torch::Tensor& x,
                                const torch::Tensor& y) {
  auto leaf = w.clone().requires_grad_(true);
  auto loss = torch::nn::functional::cross_entropy(zoo::functional_forward(arch, act, leaf, x), y);
  return torch::autograd::grad({loss}, {leaf})[0];
}

void expect_step_matches_autograd(const Case& c, Activation act) {
  auto arch = zoo::Architecture::parse(c.spec, c.input);
  const int64_t np = 3, L = arch.num_params(), K = arch.num_classes();
  MemberStep step(arch, act);
  const bool flat = arch.layers().front().kind == zoo::LayerKind::kFlatten;
  // Two calls with different batch sizes: the buffers of the first are resized for the second.
  for (int64_t r : {5, 2}) {
    torch::manual_seed(r * 7 + static_cast<int64_t>(act));
    auto images = torch::randn({np, r, c.input[0], c.input[1], c.input[2]});
    auto labels = torch::randint(0, K, {np * r});
    auto weights = torch::randn({np, L}) * 0.4;
    auto x = flat ? images.reshape({np, r, -1}) : images.transpose(1, 2).contiguous();
    auto grad = torch::full({np, L}, NAN);  // every entry must be written
    step.gradients(x, labels, weights, grad, nullptr);
    for (int64_t p = 0; p < np; ++p) {
      auto ref = autograd_gradient(arch, act, weights[p], images[p], labels.narrow(0, p * r, r));
      EXPECT_TRUE(torch::allclose(grad[p], ref, 1e-4, 1e-5)) << c.name << " " << static_cast<int>(act) << " r " << r << " member "
                                                             << p << " max diff " << (grad[p] - ref).abs().max().item<double>();
    }
  }
}

TEST(MemberStep, GradientsEqualAutogradThroughTorchOps) {
  for (const auto& c : cases()) expect_step_matches_autograd(c, Activation::kTanh);
}

TEST(MemberStep, EveryActivationMatchesAutograd) {
  for (Activation act : {Activation::kRelu, Activation::kSigmoid, Activation::kGelu, Activation::kLeakyRelu, Activation::kSelu,
                         Activation::kElu}) {
    expect_step_matches_autograd(cases()[0], act);
    expect_step_matches_autograd(cases()[3], act);
  }
}

TEST(MemberStep, DropoutMasksScaleTheGradients) {
  // A dropout layer multiplies by the mask it is given, forward and backward: with a mask of 2s the
  // gradients equal those of the network whose activations there are doubled.
  auto arch = zoo::Architecture::parse({"flatten", "linear(16,6)", "act", "dropout", "linear(6,3)"}, {1, 4, 4});
  const int64_t np = 2, r = 4, L = arch.num_params();
  torch::manual_seed(3);
  auto x = torch::randn({np, r, 16});
  auto labels = torch::randint(0, 3, {np * r});
  auto weights = torch::randn({np, L}) * 0.4;
  auto grad = torch::empty({np, L});
  MemberStep step(arch, Activation::kTanh);
  int64_t calls = 0;
  step.gradients(x, labels, weights, grad, [&](c10::IntArrayRef sizes, int64_t layer) {
    ++calls;
    EXPECT_EQ(layer, 3);
    EXPECT_EQ(sizes, c10::IntArrayRef({np, r, 6}));
    return torch::full(sizes, 2.0f);
  });
  EXPECT_EQ(calls, 1);
  // The same network with the doubling folded into the last layer's weights (its bias unchanged).
  for (int64_t p = 0; p < np; ++p) {
    auto w = weights[p].clone();
    auto last = w.narrow(0, arch.layers()[4].weight_offset, arch.layers()[4].weight_numel());
    last.mul_(2.0);
    auto ref = autograd_gradient(arch, Activation::kTanh, w, x[p], labels.narrow(0, p * r, r));
    // d/dW of the doubled layer is twice the folded network's; every other gradient is the same.
    ref.narrow(0, arch.layers()[4].weight_offset, arch.layers()[4].weight_numel()).mul_(2.0);
    EXPECT_TRUE(torch::allclose(grad[p], ref, 1e-4, 1e-5))
        << "member " << p << " max diff " << (grad[p] - ref).abs().max().item<double>();
  }
}

TEST(MemberStep, PopulationTrainsAsWithTheAutogradStep) {
  // Whole trainings, dropout and subsets included: the hand-written step and the autograd step
  // agree to rounding after three epochs.
  auto task = tasks::make_tetris_task(103, 40, 60, 0.1, 5);
  for (const auto& spec : std::vector<std::vector<std::string>>{
           {"conv(1,4,2)", "act", "dropout", "conv(4,3,2)", "maxpool(2)", "act", "flatten", "linear(3,4)"},
           {"flatten", "linear(16,5,nobias)", "act", "dropout", "linear(5,4,nobias)"}}) {
    auto arch = zoo::Architecture::parse(spec, task.input_shape);
    std::vector<zoo::MemberSpec> members;
    for (int64_t i = 0; i < 4; ++i) {
      zoo::MemberSpec m;
      m.id = i, m.seed = 11 + i, m.lr = 1e-2, m.dropout = i % 2 ? 0.3 : 0.0, m.weight_decay = i == 2 ? 1e-3 : 0.0;
      m.train_fraction = i == 3 ? 0.6 : 1.0;
      members.push_back(m);
    }
    PopulationOptions hand;
    hand.epochs = 3, hand.keep_epochs = {0, 3};
    PopulationOptions reference = hand;
    reference.hand_written_step = false;
    auto a = train_population(arch, members, hand, task, torch::kCPU);
    auto b = train_population(arch, members, reference, task, torch::kCPU);
    for (size_t i = 0; i < members.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i].weights, b[i].weights, 1e-4, 1e-5))
          << spec[0] << " member " << i << " max diff " << (a[i].weights - b[i].weights).abs().max().item<double>();
      EXPECT_GT((a[i].weights[1] - a[i].weights[0]).abs().max().item<double>(), 1e-2);  // it trained
    }
  }
}

}  // namespace
}  // namespace hyperrep::population
