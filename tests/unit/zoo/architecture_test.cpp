// Member architectures: shapes and parameter counts of CNN-s and the Tetris MLP (METHOD.md §1),
// flat layout, errors, and the functional forward against torch::nn modules.
#include <gtest/gtest.h>

#include "common/error.h"
#include "population/generate.h"
#include "zoo/architecture.h"
#include "zoo/compatibility.h"

namespace hyperrep::zoo {
namespace {

const std::vector<std::string> kCnnS = {"conv(1,8,5)", "maxpool(2)", "act",     "conv(8,6,5)",   "maxpool(2)", "act",
                                        "conv(6,4,2)", "act",        "flatten", "linear(36,20)", "act",        "linear(20,10)"};

TEST(Architecture, CnnSHasThePublishedBlocks) {
  auto a = Architecture::parse(kCnnS, {1, 28, 28});
  EXPECT_EQ(a.num_params(), 2464);
  std::vector<int64_t> per_layer;
  for (auto i : a.param_layers()) per_layer.push_back(a.layers()[i].param_numel());
  EXPECT_EQ(per_layer, (std::vector<int64_t>{208, 1206, 100, 740, 210}));
  EXPECT_EQ(a.layers()[8].out_shape, std::vector<int64_t>{36});
  EXPECT_EQ(a.num_classes(), 10);
  EXPECT_EQ(a.layers()[9].weight_offset, 208 + 1206 + 100);
}

TEST(Architecture, TetrisMlpWithoutBiasesHas100Parameters) {
  auto a = Architecture::parse({"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  EXPECT_EQ(a.num_params(), 100);
  EXPECT_EQ(a.block_sizes(), (std::vector<int64_t>{80, 20}));
  EXPECT_EQ(a.layers()[0].bias_offset, -1);
}

TEST(Architecture, InconsistentShapesNameTheLayer) {
  try {
    Architecture::parse({"conv(1,8,5)", "flatten", "linear(100,10)"}, {1, 28, 28});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("zoo.architecture[2] 'linear(100,10)' on input [4608]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Architecture::parse({"conv(3,8,5)"}, {1, 28, 28}), ConfigError);
  EXPECT_THROW(Architecture::parse({"relu"}, {16}), ConfigError);
  EXPECT_THROW(Architecture::parse({"act"}, {16}), ConfigError);
}

TEST(Architecture, FunctionalForwardMatchesTorchModules) {
  torch::manual_seed(3);
  auto a = Architecture::parse(kCnnS, {1, 28, 28});
  auto w = torch::randn({a.num_params()}) * 0.2;
  auto x = torch::randn({7, 1, 28, 28});
  torch::nn::Conv2d c1(torch::nn::Conv2dOptions(1, 8, 5)), c2(torch::nn::Conv2dOptions(8, 6, 5)),
      c3(torch::nn::Conv2dOptions(6, 4, 2));
  torch::nn::Linear l1(36, 20), l2(20, 10);
  int64_t off = 0;
  torch::NoGradGuard ng;
  for (torch::Tensor p :
       {c1->weight, c1->bias, c2->weight, c2->bias, c3->weight, c3->bias, l1->weight, l1->bias, l2->weight, l2->bias}) {
    p.copy_(w.narrow(0, off, p.numel()).view(p.sizes()));
    off += p.numel();
  }
  auto h = torch::tanh(torch::max_pool2d(c1(x), 2));
  h = torch::tanh(torch::max_pool2d(c2(h), 2));
  h = torch::tanh(c3(h)).flatten(1);
  auto expected = l2(torch::tanh(l1(h)));
  auto got = functional_forward(a, Activation::kTanh, w, x);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6));
}

// The Small CNN Zoo network (BENCHMARKS.md §1): three 3x3 stride-2 valid convolutions of 16
// filters, global average pooling, a dense layer; 4970 parameters on either input size.
const std::vector<std::string> kSmallCnnZoo = {
    "conv(1,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "gap", "linear(16,10)"};

TEST(Architecture, SmallCnnZooNetworkHasThePublishedShapes) {
  auto mnist = Architecture::parse(kSmallCnnZoo, {1, 28, 28});
  EXPECT_EQ(mnist.num_params(), 4970);
  EXPECT_EQ(mnist.layers()[0].out_shape, (std::vector<int64_t>{16, 13, 13}));
  EXPECT_EQ(mnist.layers()[2].out_shape, (std::vector<int64_t>{16, 6, 6}));
  EXPECT_EQ(mnist.layers()[4].out_shape, (std::vector<int64_t>{16, 2, 2}));
  EXPECT_EQ(mnist.layers()[6].out_shape, (std::vector<int64_t>{16}));
  auto cifar = Architecture::parse(kSmallCnnZoo, {1, 32, 32});
  EXPECT_EQ(cifar.num_params(), 4970);
  EXPECT_EQ(cifar.layers()[4].out_shape, (std::vector<int64_t>{16, 3, 3}));
  EXPECT_EQ(mnist.block_sizes(), (std::vector<int64_t>{144, 16, 2304, 16, 2304, 16, 160, 10}));
  // gap is AdaptiveAvgPool2d(1) + Flatten in torch.nn.Sequential: the dense layer is module 8.
  EXPECT_EQ(mnist.layers()[7].sequential_index, 8);
  EXPECT_EQ(mnist.layers()[4].sequential_index, 4);
  // Padding: same keeps the size, explicit padding grows it.
  auto padded =
      Architecture::parse({"conv(1,4,3,padding=same)", "conv(4,4,3,padding=2,stride=2)", "gap", "linear(4,10)"}, {1, 28, 28});
  EXPECT_EQ(padded.layers()[0].out_shape, (std::vector<int64_t>{4, 28, 28}));
  EXPECT_EQ(padded.layers()[1].out_shape, (std::vector<int64_t>{4, 15, 15}));
}

TEST(Architecture, StridedPaddedGapForwardMatchesTorchModules) {
  torch::manual_seed(4);
  namespace nn = torch::nn;
  for (const bool relu : {false, true}) {
    const std::vector<std::string> spec = {
        "conv(1,6,3,stride=2)", "act", "conv(6,5,3,padding=same)", "act", "conv(5,4,2,stride=2,padding=1)", "act", "gap",
        "linear(4,10)"};
    auto a = Architecture::parse(spec, {1, 28, 28});
    auto w = torch::randn({a.num_params()}) * 0.3;
    auto x = torch::randn({5, 1, 28, 28});
    nn::Conv2d c1(nn::Conv2dOptions(1, 6, 3).stride(2)), c2(nn::Conv2dOptions(6, 5, 3).padding(1)),
        c3(nn::Conv2dOptions(5, 4, 2).stride(2).padding(1));
    nn::Linear l(4, 10);
    torch::NoGradGuard ng;
    int64_t off = 0;
    for (torch::Tensor p : {c1->weight, c1->bias, c2->weight, c2->bias, c3->weight, c3->bias, l->weight, l->bias}) {
      p.copy_(w.narrow(0, off, p.numel()).view(p.sizes()));
      off += p.numel();
    }
    ASSERT_EQ(off, a.num_params());
    auto act = [&](const torch::Tensor& t) { return relu ? torch::relu(t) : torch::tanh(t); };
    auto h = act(c3(act(c2(act(c1(x))))));
    auto expected = l(torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1));
    auto got = functional_forward(a, relu ? Activation::kRelu : Activation::kTanh, w, x);
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6)) << (got - expected).abs().max().item<double>();
  }
}

// The transfer experiment's check: a seed zoo's encoder reads a hyper-parameter zoo whose members
// add a dropout layer (same parameter layout), but not convolutions of another stride or padding.
TEST(Architecture, ComparisonLooksAtParameterLayersAndListsEveryDifference) {
  const auto seed = Architecture::parse({"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  const auto hyp = Architecture::parse({"flatten", "linear(16,5,nobias)", "act", "dropout", "linear(5,4,nobias)"}, {1, 4, 4});
  EXPECT_TRUE(compare_architectures(seed, seed).same_parameters);
  EXPECT_TRUE(compare_architectures(seed, seed).differences.empty());
  const auto c = compare_architectures(seed, hyp);
  EXPECT_TRUE(c.same_parameters);
  ASSERT_EQ(c.differences.size(), 1u);
  EXPECT_EQ(c.differences[0],
            "layers: [flatten, linear(16,5,nobias), act, linear(5,4,nobias)] vs [flatten, linear(16,5,nobias), act, dropout, "
            "linear(5,4,nobias)]");
  // The Small CNN Zoo network on MNIST and on CIFAR inputs: same weights, other input size.
  const auto mnist = Architecture::parse(kSmallCnnZoo, {1, 28, 28});
  const auto cifar = Architecture::parse(kSmallCnnZoo, {1, 32, 32});
  const auto io = compare_architectures(mnist, cifar);
  EXPECT_TRUE(io.same_parameters);
  ASSERT_EQ(io.differences.size(), 1u);
  EXPECT_EQ(io.differences[0], "input shape: [1, 28, 28] vs [1, 32, 32]");
  // Same weights, other stride or padding, or a bias less: refused, naming the layer.
  auto changed = kSmallCnnZoo;
  changed[2] = "conv(16,16,3)";
  changed[4] = "conv(16,16,3,stride=2,padding=1)";
  const auto other = compare_architectures(mnist, Architecture::parse(changed, {1, 28, 28}));
  EXPECT_FALSE(other.same_parameters);
  ASSERT_EQ(other.differences.size(), 3u);
  EXPECT_EQ(other.differences[0], "parameter layer 1: conv(16,16,3,stride=2) vs conv(16,16,3)");
  EXPECT_EQ(other.differences[1], "parameter layer 2: conv(16,16,3,stride=2) vs conv(16,16,3,stride=2,padding=1)");
  const auto wider = Architecture::parse({"flatten", "linear(16,6,nobias)", "act", "linear(6,4,nobias)"}, {1, 4, 4});
  EXPECT_FALSE(compare_architectures(seed, wider).same_parameters);
  const auto biased = Architecture::parse({"flatten", "linear(16,5)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  EXPECT_FALSE(compare_architectures(seed, biased).same_parameters);
}

// `config check` and `zoo generate` share this check: everything generation would reject (or
// fail on inside torch) is a config issue at the zoo.architecture line.
TEST(Architecture, ConfigCheckRejectsWhatGenerationRejects) {
  Config cfg;
  ASSERT_TRUE(
      parse_config("[zoo]\ntask = \"tetris\"\narchitecture = [\"flatten\", \"linear(16,4)\"]\n", "z.toml", {}, cfg).empty());
  EXPECT_TRUE(check_zoo_architecture(cfg, {1, 4, 4}, 4).empty());
  // 130 layers of 4096 x 4096 weights: past the 2^31 parameters a member may have.
  std::vector<std::string> huge = {"flatten", "linear(16,4096)"};
  for (int i = 0; i < 130; ++i) huge.push_back("linear(4096,4096)");
  huge.push_back("linear(4096,4)");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"flatten", "linear(16,5)", "act", "linear(4,4)"}, "expects 4 input features, the input has 5"},
      {{"flatten", "conv(1,4,2)", "flatten", "linear(4,4)"}, "needs a [C, H, W] input, not a flat one"},
      {{"conv(1,4,5)", "flatten", "linear(4,4)"}, "kernel larger than the input"},
      {{"conv(2,4,2)", "flatten", "linear(36,4)"}, "expects 2 input channels, the input has 1"},
      {{"flatten", "linear(16,10)"}, "the last layer has 10 outputs, task 'tetris' has 4 classes"},
      {{"conv(1,4,2)", "linear(36,4)"}, "needs a flat input"},
      {huge, "more than 2147483648 parameters"},
      {{"conv(1,4,3,stride=2)", "conv(4,4,2,stride=2)", "flatten", "linear(4,4)"}, "kernel larger than the input"},
      {{"flatten", "gap", "linear(16,4)"}, "global average pooling needs a [C, H, W] input"},
  };
  for (const auto& [layers, want] : cases) {
    Config c;
    std::string list;
    for (const auto& l : layers) list += (list.empty() ? "\"" : ", \"") + l + "\"";
    ASSERT_TRUE(parse_config("[zoo]\ntask = \"tetris\"\narchitecture = [" + list + "]\n", "z.toml", {}, c).empty()) << list;
    const auto issues = check_zoo_architecture(c, {1, 4, 4}, 4);
    ASSERT_EQ(issues.size(), 1u) << list;
    EXPECT_EQ(issues[0].line, 3) << issues[0].str();
    EXPECT_NE(issues[0].str().find("z.toml:3: zoo.architecture: "), std::string::npos) << issues[0].str();
    EXPECT_NE(issues[0].message.find(want), std::string::npos) << issues[0].str();
  }
}

}  // namespace
}  // namespace hyperrep::zoo
