// Neuron and padded tokenizers and the per-layer statistics: shapes of CNN-s and the Tetris MLP,
// exact round trips, padding/mask/positions, windows, wide layers, save/load.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <set>

#include "common/error.h"
#include "data/tokenizer.h"
#include "zoo/architecture.h"

namespace hyperrep::data {
namespace {

const std::vector<std::string> kCnnS = {"conv(1,8,5)", "maxpool(2)", "act",     "conv(8,6,5)",   "maxpool(2)", "act",
                                        "conv(6,4,2)", "act",        "flatten", "linear(36,20)", "act",        "linear(20,10)"};
const std::vector<std::string> kTetris = {"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"};

zoo::Architecture cnn_s() { return zoo::Architecture::parse(kCnnS, {1, 28, 28}); }
zoo::Architecture tetris() { return zoo::Architecture::parse(kTetris, {1, 4, 4}); }

TEST(NeuronTokenizer, CnnSHas48TokensWithPublishedDims) {
  NeuronTokenizer tok(cnn_s());
  EXPECT_EQ(tok.num_tokens(), 48);
  EXPECT_EQ(tok.token_dims(), (std::vector<int64_t>{26, 201, 25, 37, 21}));
  EXPECT_EQ(tok.max_token_dim(), 201);
}

TEST(NeuronTokenizer, TetrisHas9TokensOf16And5) {
  NeuronTokenizer tok(tetris());
  EXPECT_EQ(tok.num_tokens(), 9);
  EXPECT_EQ(tok.token_dims(), (std::vector<int64_t>{16, 5}));
  auto flat = torch::arange(100, torch::kFloat32).unsqueeze(0);
  auto t = tok.tokenize(flat);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].sizes(), (std::vector<int64_t>{1, 5, 16}));
  EXPECT_EQ(t[1].sizes(), (std::vector<int64_t>{1, 4, 5}));
  // neuron 2 of layer 0 = weights 32..47; neuron 1 of layer 1 = weights 80 + 5..9
  EXPECT_EQ(t[0][0][2][0].item<float>(), 32.f);
  EXPECT_EQ(t[0][0][2][15].item<float>(), 47.f);
  EXPECT_EQ(t[1][0][1][0].item<float>(), 85.f);
}

TEST(NeuronTokenizer, TokenHoldsIncomingWeightsThenBias) {
  auto arch = cnn_s();
  NeuronTokenizer tok(arch);
  auto flat = torch::arange(arch.num_params(), torch::kFloat32).unsqueeze(0);
  auto t = tok.tokenize(flat);
  // conv(8,6,5): weights start at 208, 200 per channel, biases at 208 + 1200.
  EXPECT_EQ(t[1][0][3][0].item<float>(), 208.f + 3 * 200);
  EXPECT_EQ(t[1][0][3][199].item<float>(), 208.f + 3 * 200 + 199);
  EXPECT_EQ(t[1][0][3][200].item<float>(), 208.f + 1200 + 3);
}

TEST(NeuronTokenizer, RoundTripIsExact) {
  for (const auto& arch : {cnn_s(), tetris()}) {
    NeuronTokenizer tok(arch);
    auto flat = torch::randn({7, arch.num_params()});
    EXPECT_TRUE(torch::equal(tok.detokenize(tok.tokenize(flat)), flat));
    auto padded = tok.tokenize_padded(flat);
    EXPECT_EQ(padded.sizes(), (std::vector<int64_t>{7, tok.num_tokens(), tok.max_token_dim()}));
    EXPECT_TRUE(torch::equal(tok.detokenize_padded(padded), flat));
    // the mask counts exactly the parameters, and padding is zero
    EXPECT_EQ(tok.mask().sum().item<int64_t>(), arch.num_params());
    EXPECT_EQ(padded.masked_select(tok.mask().logical_not()).abs().sum().item<float>(), 0.f);
  }
}

TEST(PaddedTokenizer, ChunksRowsWithMaskAndPositions) {
  auto arch = cnn_s();
  PaddedTokenizer tok(arch, 64);
  // rows of 26, 201, 25, 37, 21 values -> 1, 4, 1, 1, 1 chunks per neuron
  EXPECT_EQ(tok.num_tokens(), 8 * 1 + 6 * 4 + 4 + 20 + 10);
  EXPECT_EQ(tok.mask().sum().item<int64_t>(), 2464);
  const auto& p = tok.positions();
  EXPECT_EQ(p.global[10].item<int64_t>(), 10);
  EXPECT_EQ(p.layer[8].item<int64_t>(), 1);         // first token of conv 2
  EXPECT_EQ(p.in_layer[8 + 5].item<int64_t>(), 5);  // neuron 1, chunk 1 of conv 2
  EXPECT_EQ(p.layer[tok.num_tokens() - 1].item<int64_t>(), 4);
  // token 8 + 3 is the last chunk of neuron 0 of conv 2: 201 - 192 = 9 values (8 weights + bias)
  EXPECT_EQ(tok.mask()[8 + 3].sum().item<int64_t>(), 9);
  auto flat = torch::randn({3, 2464});
  auto t = tok.tokenize(flat);
  EXPECT_EQ(t[0][8 + 3][8].item<float>(), flat[0][208 + 1200].item<float>());  // the bias of channel 0
  EXPECT_TRUE(torch::equal(tok.detokenize(t), flat));
  EXPECT_EQ(t.masked_select(tok.mask().logical_not().unsqueeze(0).expand_as(t)).abs().sum().item<float>(), 0.f);
}

TEST(PaddedTokenizer, WorksForWideLayers) {
  auto arch = zoo::Architecture::parse({"linear(2000,30)", "act", "linear(30,10)"}, {2000});
  PaddedTokenizer tok(arch, 64);
  EXPECT_EQ(tok.num_tokens(), 30 * 32 + 10);  // 2001 values -> 32 chunks
  EXPECT_EQ(tok.max_in_layer(), 960);
  auto flat = torch::randn({2, arch.num_params()});
  EXPECT_TRUE(torch::equal(tok.detokenize(tok.tokenize(flat)), flat));
}

TEST(PaddedTokenizer, RandomWindowsAreConsecutiveTokens) {
  auto arch = cnn_s();
  PaddedTokenizer tok(arch, 32);
  auto flat = torch::randn({16, 2464});
  auto tokens = tok.tokenize(flat);
  const KeyedDraws draws(3, 0, torch::arange(16) + 40);
  auto w = tok.random_window(tokens, 10, draws);
  EXPECT_EQ(w.tokens.sizes(), (std::vector<int64_t>{16, 10, 32}));
  std::set<int64_t> starts;
  for (int64_t b = 0; b < 16; ++b) {
    const int64_t s = w.start[b].item<int64_t>();
    starts.insert(s);
    ASSERT_LE(s + 10, tok.num_tokens());
    EXPECT_TRUE(torch::equal(w.tokens[b], tokens[b].narrow(0, s, 10)));
    EXPECT_EQ(w.positions.global[b][9].item<int64_t>(), s + 9);
    EXPECT_TRUE(torch::equal(w.mask[b], tok.mask().narrow(0, s, 10)));
  }
  EXPECT_GT(starts.size(), 4u);
  auto whole = tok.random_window(tokens, 0, draws);
  EXPECT_TRUE(torch::equal(whole.tokens, tokens));
  // A row's window follows its key, not its position in the batch: rows 5..7 alone draw the
  // starts they drew among all 16.
  const KeyedDraws part(3, 0, torch::arange(5, 8) + 40);
  auto w5 = tok.random_window(tokens.narrow(0, 5, 3), 10, part);
  EXPECT_TRUE(torch::equal(w5.start, w.start.narrow(0, 5, 3)));
  EXPECT_TRUE(torch::equal(w5.tokens, w.tokens.narrow(0, 5, 3)));
}

}  // namespace
}  // namespace hyperrep::data
