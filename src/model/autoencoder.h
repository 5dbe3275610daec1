// The hyper-representation autoencoders (METHOD.md §4). NeuronAutoencoder: per-layer neuron
// token embeddings, compression token, learned positions, pre-norm blocks, tanh bottleneck,
// decoder mirror with per-layer de-embeddings. SequenceAutoencoder: SANE padded tokens with one
// shared embedding, (global, layer, in-layer) positions, a latent per token (the embedding of a
// member is the mean of its token latents), trained on windows. Both carry the projection head.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "common/config.h"
#include "data/tokenizer.h"
#include "model/transformer.h"
#include "zoo/architecture.h"

namespace hyperrep::model {

struct AutoencoderOptions {
  int64_t d_model = 256, heads = 4, blocks = 2, d_ff = 512, latent = 50;
  double dropout = 0.1;
  AttentionKind attention = AttentionKind::kPlain;
  int64_t projection_layers = 4, projection_hidden = 400, projection_out = 50;
  int64_t token_size = 64, window = 0;  // padded tokenizer only
  bool token_scale = false;             // neuron tokenizer: log RMS of each token as an extra input
  static AutoencoderOptions from_config(const ModelConfig& m);
};

// The member architecture of a config: [zoo] architecture on the task's input shape
// (tetris {1,4,4}; fashion_mnist and idx {1,28,28}).
zoo::Architecture member_architecture(const Config& cfg);

// g(z) = Linear(latent->h)-BN-ReLU, (k-1) x [Linear(h->h)-BN-ReLU], Linear(h->o)-BN; with k = 1
// it is Linear(latent->o)-BN.
class ProjectionHeadImpl : public torch::nn::Module {
 public:
  ProjectionHeadImpl(int64_t latent, int64_t layers, int64_t hidden, int64_t out);
  torch::Tensor forward(const torch::Tensor& z) { return net->forward(z); }
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(ProjectionHead);

// What one training forward returns. recon/target/mask share a shape; `layer` (int64,
// broadcastable to recon) names the member layer of every entry for the layer-wise loss.
struct AeOutput {
  torch::Tensor z;       // [B, latent]
  torch::Tensor recon;   // neuron: [B, L]; padded: [B, W, token_size]
  torch::Tensor target;  // what recon should match (the input view, tokenized alike)
  torch::Tensor mask;    // undefined = every entry counts; else bool like recon
  torch::Tensor layer;   // neuron: [L]; padded: [B, W, 1]
};

class AutoencoderBase : public torch::nn::Module {
 public:
  // Training forward on a (possibly augmented) view w [B, L]; row i is keyed by
  // draws.row_keys()[i], which draws the padded tokenizer's windows.
  virtual AeOutput forward_view(const torch::Tensor& w, const KeyedDraws& draws) = 0;
  // The hyper-representation of w [B, L] (call in eval mode for downstream embeddings).
  virtual torch::Tensor embed(const torch::Tensor& w) = 0;
  torch::Tensor project(const torch::Tensor& z) { return head->forward(z); }
  // Parameter counts by part: embedder, encoder, bottleneck, decoder, head.
  std::map<std::string, int64_t> parameter_groups() const;
  int64_t num_parameters(bool with_head) const;
  // Matmul FLOPs of one forward of the autoencoder (without head) on B members.
  virtual double forward_flops(int64_t batch) const = 0;
  virtual int64_t tokens_per_member() const = 0;
  virtual std::vector<int64_t> token_dims() const = 0;
  virtual std::string tokenizer_name() const = 0;
  const AutoencoderOptions& options() const { return opt_; }

  ProjectionHead head{nullptr};

 protected:
  // Registers "encoder" and "decoder", each opt_.blocks pre-norm blocks of width opt_.d_model.
  void register_block_stacks(torch::nn::ModuleList& encoder, torch::nn::ModuleList& decoder);
  AutoencoderOptions opt_;
};

class NeuronAutoencoder : public AutoencoderBase {
 public:
  NeuronAutoencoder(const zoo::Architecture& arch, const AutoencoderOptions& opt);
  torch::Tensor encode(const torch::Tensor& w);  // [B, L] -> z [B, latent]
  torch::Tensor decode(const torch::Tensor& z);  // z -> [B, L]
  AeOutput forward_view(const torch::Tensor& w, const KeyedDraws& draws) override;
  torch::Tensor embed(const torch::Tensor& w) override { return encode(w); }
  double forward_flops(int64_t batch) const override;
  int64_t tokens_per_member() const override { return tok_.num_tokens(); }
  std::vector<int64_t> token_dims() const override { return tok_.token_dims(); }
  std::string tokenizer_name() const override { return "neuron"; }
  const data::NeuronTokenizer& tokenizer() const { return tok_; }

 private:
  data::NeuronTokenizer tok_;
  torch::Tensor element_layer_;  // [L] layer of every flat entry
  torch::nn::ModuleList embed_{nullptr}, deembed_{nullptr}, encoder_{nullptr}, decoder_{nullptr};
  torch::Tensor compression_token_, encoder_positions_, decoder_positions_;
  torch::nn::Linear bottleneck_{nullptr}, decoder_input_{nullptr};
  KeyedDropout drop_{nullptr};
};

class SequenceAutoencoder : public AutoencoderBase {
 public:
  SequenceAutoencoder(const zoo::Architecture& arch, const AutoencoderOptions& opt);
  // tokens [B, W, S] at positions -> per-token latents [B, W, latent] and back.
  torch::Tensor encode_tokens(const torch::Tensor& tokens, const data::TokenPositions& pos);
  torch::Tensor decode_tokens(const torch::Tensor& latents, const data::TokenPositions& pos);
  AeOutput forward_view(const torch::Tensor& w, const KeyedDraws& draws) override;
  // Mean of the token latents over the whole sequence (taken window by window).
  torch::Tensor embed(const torch::Tensor& w) override;
  double forward_flops(int64_t batch) const override;
  int64_t tokens_per_member() const override { return tok_.num_tokens(); }
  std::vector<int64_t> token_dims() const override { return {tok_.token_size()}; }
  std::string tokenizer_name() const override { return "padded"; }
  const data::PaddedTokenizer& tokenizer() const { return tok_; }

 private:
  torch::Tensor position_embedding(const data::TokenPositions& pos, bool decoder);
  int64_t window() const;
  data::PaddedTokenizer tok_;
  torch::nn::Linear embed_{nullptr}, deembed_{nullptr}, bottleneck_{nullptr}, decoder_input_{nullptr};
  torch::nn::Embedding enc_global_{nullptr}, enc_layer_{nullptr}, enc_in_layer_{nullptr};
  torch::nn::Embedding dec_global_{nullptr}, dec_layer_{nullptr}, dec_in_layer_{nullptr};
  torch::nn::ModuleList encoder_{nullptr}, decoder_{nullptr};
  KeyedDropout drop_{nullptr};
};

// A training forward of view w whose dropout masks and windows are keyed by draws (row i of w
// is sample draws.row_keys()[i], 2 * global row + view; model/keyed_dropout.h), so no draw
// depends on which rank holds a row.
AeOutput forward_view_keyed(AutoencoderBase& ae, const torch::Tensor& w, const KeyedDraws& draws);

// The autoencoder of a config ([model] tokenizer picks the class) for members of `arch`; the
// second form takes the architecture of the config's [zoo] section.
std::shared_ptr<AutoencoderBase> make_autoencoder(const zoo::Architecture& arch, const ModelConfig& model);
std::shared_ptr<AutoencoderBase> make_autoencoder(const Config& cfg);

}  // namespace hyperrep::model
