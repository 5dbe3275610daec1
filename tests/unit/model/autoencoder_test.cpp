// The transformer autoencoder: the published parameter counts (TETRIS-SEED 2,255,175 and
// MNIST-SEED 44,090,210 without the projection head), shapes, attention against torch's
// MultiheadAttention, the padded (SANE) variant and the projection head.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "common/config.h"
#include "model/autoencoder.h"
#include "model/keyed_dropout.h"
#include "model/transformer.h"

namespace hyperrep::model {
namespace {

const std::vector<std::string> kCnnS = {"conv(1,8,5)", "maxpool(2)", "act",     "conv(8,6,5)",   "maxpool(2)", "act",
                                        "conv(6,4,2)", "act",        "flatten", "linear(36,20)", "act",        "linear(20,10)"};
const std::vector<std::string> kTetris = {"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"};

AutoencoderOptions options(int64_t d, int64_t d_ff, int64_t latent) {
  AutoencoderOptions o;
  o.d_model = d, o.heads = 4, o.blocks = 2, o.d_ff = d_ff, o.latent = latent;
  return o;
}

// Expected count written out from the layer list (METHOD.md §4), not read from the model:
// per-layer embeddings and de-embeddings with biases, compression token, positions of T+1 and
// T tokens, 2x2 pre-norm blocks (LN affine x2, in/out projections, FF), bottleneck, decoder input.
int64_t expected_count(const std::vector<std::pair<int64_t, int64_t>>& layers /* (tokens, dim) */, int64_t d, int64_t d_ff,
                       int64_t latent) {
  int64_t t = 0, n = 0;
  for (auto [tokens, dim] : layers) {
    t += tokens;
    n += (dim * d + d) + (d * dim + dim);
  }
  const int64_t block = 2 * (2 * d) + (3 * d * d + 3 * d) + (d * d + d) + (d * d_ff + d_ff) + (d_ff * d + d);
  n += d + (t + 1) * d + t * d + 4 * block + (d * latent + latent) + (latent * t * d + t * d);
  return n;
}

TEST(NeuronAutoencoder, TetrisSeedHasThePublishedParameterCount) {
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  NeuronAutoencoder ae(arch, options(256, 512, 50));
  EXPECT_EQ(expected_count({{5, 16}, {4, 5}}, 256, 512, 50), 2255175);
  EXPECT_EQ(ae.num_parameters(false), 2255175);
  EXPECT_EQ(ae.tokens_per_member(), 9);
  // head: Linear(50,400)+BN, 2x[Linear(400,400)+BN], Linear(400,50)+BN
  const int64_t head = (50 * 400 + 400 + 800) + 2 * (400 * 400 + 400 + 800) + (400 * 50 + 50 + 100);
  EXPECT_EQ(ae.parameter_groups().at("head"), head);
  EXPECT_EQ(ae.num_parameters(true), 2255175 + head);
}

TEST(NeuronAutoencoder, MnistSeedHasThePublishedParameterCount) {
  auto arch = zoo::Architecture::parse(kCnnS, {1, 28, 28});
  NeuronAutoencoder ae(arch, options(800, 900, 700));
  EXPECT_EQ(expected_count({{8, 26}, {6, 201}, {4, 25}, {20, 37}, {10, 21}}, 800, 900, 700), 44090210);
  EXPECT_EQ(ae.num_parameters(false), 44090210);
  auto g = ae.parameter_groups();
  EXPECT_EQ(g.at("bottleneck"), 800 * 700 + 700);
  EXPECT_EQ(g.at("embedder"), (26 + 201 + 25 + 37 + 21) * 800 + 5 * 800 + 800 + 49 * 800);
}

TEST(NeuronAutoencoder, ShapesAndTanhBottleneck) {
  auto arch = zoo::Architecture::parse(kCnnS, {1, 28, 28});
  NeuronAutoencoder ae(arch, options(32, 64, 8));
  auto w = torch::randn({5, 2464});
  auto z = ae.encode(w);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{5, 8}));
  EXPECT_LE(z.abs().max().item<float>(), 1.0f);
  EXPECT_EQ(ae.decode(z).sizes(), w.sizes());
  const KeyedDraws draws(0, 0, torch::arange(w.size(0)));
  auto out = ae.forward_view(w, draws);
  EXPECT_TRUE(out.target.is_same(w));
  EXPECT_EQ(out.layer.numel(), 2464);
  EXPECT_EQ(out.layer[208].item<int64_t>(), 1);
  EXPECT_EQ(ae.project(z).sizes(), (std::vector<int64_t>{5, 50}));
  // the projection head and encoder get gradients through a backward pass (the biases of the
  // head's linear layers before batch norm are held out: see the next test)
  (ae.project(out.z).pow(2).mean() + out.recon.pow(2).mean()).backward();
  for (const auto& p : ae.named_parameters()) {
    EXPECT_EQ(p.value().grad().defined(), p.value().requires_grad()) << p.key();
  }
}

// Parameters whose exact gradient is zero: attention's key bias (the softmax cancels it) and the
// bias of a linear layer before batch norm (the norm subtracts it). They are held out of
// training, so Adam cannot turn rounding noise in their gradients into full steps.
TEST(NeuronAutoencoder, ParametersWithZeroExactGradientAreHeldOut) {
  auto arch = zoo::Architecture::parse(kCnnS, {1, 28, 28});
  NeuronAutoencoder ae(arch, options(32, 64, 8));
  ae.train();
  auto w = torch::randn({6, 2464});
  const KeyedDraws draws(0, 0, torch::arange(w.size(0)));
  auto out = ae.forward_view(w, draws);
  (ae.project(out.z).pow(2).mean() + out.recon.pow(2).mean()).backward();
  int64_t key_biases = 0, head_biases = 0;
  for (const auto& p : ae.named_parameters()) {
    const auto& name = p.key();
    if (name.find("attn.in_proj.bias") != std::string::npos) {
      const int64_t d = p.value().size(0) / 3;
      EXPECT_TRUE(p.value().narrow(0, d, d).eq(0).all().item<bool>()) << name;
      const auto g = p.value().grad();
      EXPECT_TRUE(g.narrow(0, d, d).eq(0).all().item<bool>()) << name;
      EXPECT_GT(g.narrow(0, 0, d).abs().max().item<double>(), 0.0) << name;  // queries and values do learn
      ++key_biases;
    }
    if (name == "head.net.0.bias" || name == "head.net.3.bias") {
      EXPECT_FALSE(p.value().requires_grad()) << name;
      EXPECT_TRUE(p.value().eq(0).all().item<bool>()) << name;
      ++head_biases;
    }
  }
  EXPECT_EQ(key_biases, 4);  // 2 encoder + 2 decoder blocks
  EXPECT_EQ(head_biases, 2);
}

// Leaving the key bias out changes nothing: attention with the whole in_proj bias (a nonzero key
// part, as a checkpoint trained before may hold), computed here the textbook way, equals the
// module's forward.
TEST(MultiHeadAttention, TheKeyBiasCancelsInTheSoftmax) {
  torch::manual_seed(3);
  const int64_t d = 32, heads = 4, dh = d / heads, b = 3, t = 7;
  MultiHeadAttention attn(d, heads, AttentionKind::kPlain);
  {
    torch::NoGradGuard no_grad;
    attn->in_proj->bias.normal_();  // the key part too
  }
  ASSERT_GT(attn->in_proj->bias.narrow(0, d, d).abs().max().item<double>(), 0.1);
  const auto x = torch::randn({b, t, d});
  const auto qkv = attn->in_proj->forward(x).view({b, t, 3, heads, dh}).permute({2, 0, 3, 1, 4});
  const auto scores = torch::matmul(qkv[0], qkv[1].transpose(-2, -1)) / std::sqrt(static_cast<double>(dh));
  const auto o = torch::matmul(torch::softmax(scores, -1), qkv[2]).transpose(1, 2).reshape({b, t, d});
  const auto textbook = attn->out_proj->forward(o);
  EXPECT_TRUE(torch::allclose(attn->forward(x), textbook, 1e-5, 1e-6))
      << (attn->forward(x) - textbook).abs().max().item<double>();
}

// model.token_scale: each token's embedding gets one more input, log(RMS + 1e-3). With every
// other embedding column zeroed the encoder sees only those scales: w and -w (same RMS) give the
// same z, 3w a different one; an all-zero (erased) member stays finite, gradients included.
TEST(NeuronAutoencoder, TokenScaleFeedsEachTokensLogRmsToItsEmbedding) {
  torch::manual_seed(3);
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  auto opt = options(16, 32, 4);
  const int64_t plain = NeuronAutoencoder(arch, opt).num_parameters(false);
  opt.token_scale = true;
  NeuronAutoencoder ae(arch, opt);
  EXPECT_EQ(ae.num_parameters(false), plain + 2 * 16);  // one more input column per layer
  // and 2 * B * d more embedding FLOPs per token (9 tokens)
  EXPECT_DOUBLE_EQ(ae.forward_flops(2) - NeuronAutoencoder(arch, options(16, 32, 4)).forward_flops(2), 2.0 * 2 * 9 * 16);
  ae.eval();
  torch::NoGradGuard no_grad;
  for (const auto& p : ae.named_parameters()) {
    if (p.key() == "embed.0.weight") p.value().narrow(1, 0, 16).zero_();
    if (p.key() == "embed.1.weight") p.value().narrow(1, 0, 5).zero_();
  }
  auto w = torch::randn({3, 100});
  auto z = ae.encode(w);
  EXPECT_TRUE(torch::allclose(ae.encode(-w), z, 1e-6, 1e-6));
  EXPECT_GT((ae.encode(3 * w) - z).abs().max().item<float>(), 1e-3f);
  // a permutation of the values inside each token keeps every RMS: same z
  auto shuffled = torch::cat({w.narrow(1, 0, 80).view({3, 5, 16}).flip(2).reshape({3, 80}),
                              w.narrow(1, 80, 20).view({3, 4, 5}).flip(2).reshape({3, 20})},
                             1);
  EXPECT_TRUE(torch::allclose(ae.encode(shuffled), z, 1e-6, 1e-6));
}

TEST(NeuronAutoencoder, TokenScaleStaysFiniteOnAnErasedMember) {
  torch::manual_seed(4);
  auto opt = options(16, 32, 4);
  opt.token_scale = true;
  NeuronAutoencoder ae(zoo::Architecture::parse(kTetris, {1, 4, 4}), opt);
  auto z = ae.encode(torch::cat({torch::zeros({1, 100}), torch::randn({1, 100})}));
  EXPECT_TRUE(torch::isfinite(z).all().item<bool>());
  z.sum().backward();
  for (const auto& p : ae.named_parameters()) {
    if (p.value().grad().defined()) {
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    }
  }
}

TEST(NeuronAutoencoder, EvalModeIsDeterministicAndDropoutActsInTraining) {
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  auto opt = options(32, 64, 8);
  opt.dropout = 0.5;
  NeuronAutoencoder ae(arch, opt);
  auto w = torch::randn({3, 100});
  ae.eval();
  EXPECT_TRUE(torch::equal(ae.encode(w), ae.encode(w)));
  ae.train();
  EXPECT_FALSE(torch::equal(ae.encode(w), ae.encode(w)));
}

TEST(Attention, PlainMatchesTorchMultiheadAttention) {
  torch::manual_seed(0);
  MultiHeadAttention ours(16, 4, AttentionKind::kPlain);
  torch::nn::MultiheadAttention ref(torch::nn::MultiheadAttentionOptions(16, 4));
  {
    torch::NoGradGuard g;
    ref->in_proj_weight.copy_(ours->in_proj->weight);
    ref->in_proj_bias.copy_(ours->in_proj->bias);
    ref->out_proj->weight.copy_(ours->out_proj->weight);
    ref->out_proj->bias.copy_(ours->out_proj->bias);
  }
  auto x = torch::randn({3, 7, 16});
  auto xt = x.transpose(0, 1);  // torch's MHA takes [T, B, d]
  auto expected = std::get<0>(ref->forward(xt, xt, xt)).transpose(0, 1);
  EXPECT_TRUE(torch::allclose(ours->forward(x), expected, 1e-5, 1e-5));
}

TEST(Attention, ModesResolve) {
  EXPECT_EQ(resolve_attention("plain"), AttentionKind::kPlain);
  EXPECT_EQ(resolve_attention("auto"), fused_attention_available() ? AttentionKind::kFused : AttentionKind::kPlain);
  if (!fused_attention_available()) {
    EXPECT_THROW(resolve_attention("fused"), ConfigError);
  }
}

TEST(SequenceAutoencoder, WindowsAndMeanEmbedding) {
  auto arch = zoo::Architecture::parse(kCnnS, {1, 28, 28});
  auto opt = options(32, 64, 8);
  opt.token_size = 64;
  opt.window = 16;
  SequenceAutoencoder ae(arch, opt);
  EXPECT_EQ(ae.tokens_per_member(), 66);
  auto w = torch::randn({4, 2464});
  const KeyedDraws draws(1, 0, torch::arange(w.size(0)));
  auto out = ae.forward_view(w, draws);
  EXPECT_EQ(out.recon.sizes(), (std::vector<int64_t>{4, 16, 64}));
  EXPECT_EQ(out.mask.sizes(), out.recon.sizes());
  EXPECT_EQ(out.z.sizes(), (std::vector<int64_t>{4, 8}));
  ae.eval();
  auto z = ae.embed(w);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{4, 8}));
  // the embedding is the mean over all 66 token latents, encoded window by window (16, 16, 16, 16, 2)
  const auto& p = ae.tokenizer().positions();
  auto tokens = ae.tokenizer().tokenize(w);
  torch::Tensor sum = torch::zeros({4, 8});
  for (int64_t s = 0; s < 66; s += 16) {
    const int64_t n = std::min<int64_t>(16, 66 - s);
    data::TokenPositions pos{p.global.narrow(0, s, n).expand({4, n}), p.layer.narrow(0, s, n).expand({4, n}),
                             p.in_layer.narrow(0, s, n).expand({4, n})};
    sum += ae.encode_tokens(tokens.narrow(1, s, n), pos).sum(1);
  }
  EXPECT_TRUE(torch::allclose(z, sum / 66, 1e-5, 1e-5));
}

TEST(ShippedConfigs, GiveThePublishedCounts) {
  auto tetris = make_autoencoder(load_config(std::string(HYPERREP_SOURCE_DIR) + "/configs/ae/tetris_seed.toml"));
  EXPECT_EQ(tetris->num_parameters(false), 2255175);
  EXPECT_EQ(tetris->token_dims(), (std::vector<int64_t>{16, 5}));
  auto fmnist = make_autoencoder(load_config(std::string(HYPERREP_SOURCE_DIR) + "/configs/ae/fmnist_seed.toml"));
  EXPECT_EQ(fmnist->num_parameters(false), 44090210);
  EXPECT_EQ(fmnist->tokens_per_member(), 48);
}

TEST(NeuronAutoencoder, ForwardFlopsCountEveryMatmul) {
  // Tetris tokens (5 of 16, 4 of 5), d 8, d_ff 16, latent 4, one block each side, batch 2.
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  auto opt = options(8, 16, 4);
  opt.blocks = 1;
  NeuronAutoencoder ae(arch, opt);
  auto block = [](double t) { return 2 * (2.0 * t * 8 * 24 + 2.0 * t * 8 * 8 + 2 * 2.0 * t * t * 8 + 2 * 2.0 * t * 8 * 16); };
  // The encoder's (last) block computes only the compression token's row: qkv of all 10 tokens,
  // one query, the output projection and feed-forward of one row.
  const double first_row = 2 * (2.0 * 10 * 8 * 24 + 2.0 * 8 * 8 + 2 * 2.0 * 10 * 8 + 2 * 2.0 * 8 * 16);
  const double embed = 2 * 2 * (2.0 * 5 * 16 * 8 + 2.0 * 4 * 5 * 8);  // batch 2, embed + de-embed
  const double expected = embed + first_row + block(9) + 2 * (2.0 * 8 * 4) + 2 * (2.0 * 4 * 9 * 8);
  EXPECT_DOUBLE_EQ(ae.forward_flops(2), expected);
}

// The last encoder block's first-row shortcut computes what the full block computes for the
// compression token: in training mode with keyed dropout (the same masks) and in eval mode, both
// the code and its gradients.
TEST(TransformerBlock, ForwardFirstIsTheFullBlocksFirstRow) {
  torch::manual_seed(5);
  for (int64_t d : {8, 64}) {  // head dim 2 (LibTorch's products) and 16 (the small-attention kernels)
    TransformerBlock blk(d, 4, 2 * d, 0.1, AttentionKind::kPlain);
    for (bool train : {true, false}) {
      blk->train(train);
      auto x = torch::randn({6, 11, d});
      const KeyedDraws draws(3, 7, torch::arange(6, torch::kInt64));
      auto x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
      torch::Tensor full, first;
      {
        const DropoutKeys scope(draws);
        full = blk->forward(x1).narrow(1, 0, 1);
      }
      {
        const DropoutKeys scope(draws);
        first = blk->forward_first(x2);
      }
      EXPECT_TRUE(torch::allclose(full, first, 1e-5, 1e-6)) << d << " " << train;
      auto g = torch::randn_like(full);
      (full * g).sum().backward();
      (first * g).sum().backward();
      EXPECT_TRUE(torch::allclose(x1.grad(), x2.grad(), 1e-4, 1e-6)) << d << " " << train;
    }
  }
}

TEST(NeuronAutoencoder, LearnsToReconstructASmallBatch) {
  torch::manual_seed(0);
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  auto opt = options(32, 64, 16);
  opt.dropout = 0.0;
  opt.projection_hidden = 32, opt.projection_out = 8;
  NeuronAutoencoder ae(arch, opt);
  torch::optim::Adam adam(ae.parameters(), torch::optim::AdamOptions(1e-3));
  auto w = torch::randn({32, 100});
  const KeyedDraws draws(0, 0, torch::arange(w.size(0)));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    adam.zero_grad();
    auto out = ae.forward_view(w, draws);
    auto recon = (out.recon - out.target).pow(2).mean();
    (recon + 0.1 * ae.project(out.z).pow(2).mean()).backward();
    adam.step();
    (step == 0 ? first : last) = recon.item<double>();
  }
  EXPECT_NEAR(first, 1.0, 0.3);  // unit-variance targets, near-zero initial outputs
  EXPECT_LT(last, 0.6 * first);
}

TEST(MemberArchitecture, FollowsTheTask) {
  Config cfg;
  EXPECT_EQ(member_architecture(cfg).num_params(), 100);  // defaults: tetris MLP
  cfg.zoo.task = "fashion_mnist";
  cfg.zoo.architecture = kCnnS;
  EXPECT_EQ(member_architecture(cfg).num_params(), 2464);
  cfg.model.d_model = 16, cfg.model.d_ff = 16, cfg.model.latent = 4, cfg.model.attention = "plain";
  EXPECT_EQ(make_autoencoder(cfg)->tokens_per_member(), 48);
  const int64_t plain = make_autoencoder(cfg)->num_parameters(false);
  cfg.model.token_scale = true;  // one more embedding input per layer (5 layers of CNN-s)
  EXPECT_EQ(make_autoencoder(cfg)->num_parameters(false), plain + 5 * 16);
  cfg.model.token_scale = false;
  cfg.model.tokenizer = "padded";
  EXPECT_EQ(make_autoencoder(cfg)->tokenizer_name(), "padded");
}

}  // namespace
}  // namespace hyperrep::model
