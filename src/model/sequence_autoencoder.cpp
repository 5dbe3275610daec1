// SANE-style autoencoder on padded tokens (METHOD.md §2, padded tokens).
#include "common/error.h"
#include "model/autoencoder.h"

namespace hyperrep::model {

SequenceAutoencoder::SequenceAutoencoder(const zoo::Architecture& arch, const AutoencoderOptions& opt)
    : tok_(arch, opt.token_size) {
  opt_ = opt;
  const int64_t d = opt.d_model;
  embed_ = register_module("embed", torch::nn::Linear(tok_.token_size(), d));
  enc_global_ = register_module("enc_global", torch::nn::Embedding(tok_.num_tokens(), d));
  enc_layer_ = register_module("enc_layer", torch::nn::Embedding(tok_.num_layers(), d));
  enc_in_layer_ = register_module("enc_in_layer", torch::nn::Embedding(tok_.max_in_layer(), d));
  register_block_stacks(encoder_, decoder_);
  bottleneck_ = register_module("bottleneck", torch::nn::Linear(d, opt.latent));
  decoder_input_ = register_module("decoder_input", torch::nn::Linear(opt.latent, d));
  dec_global_ = register_module("dec_global", torch::nn::Embedding(tok_.num_tokens(), d));
  dec_layer_ = register_module("dec_layer", torch::nn::Embedding(tok_.num_layers(), d));
  dec_in_layer_ = register_module("dec_in_layer", torch::nn::Embedding(tok_.max_in_layer(), d));
  deembed_ = register_module("deembed", torch::nn::Linear(d, tok_.token_size()));
  drop_ = register_module("drop", KeyedDropout(opt.dropout));
  head = register_module("head", ProjectionHead(opt.latent, opt.projection_layers, opt.projection_hidden, opt.projection_out));
}

int64_t SequenceAutoencoder::window() const {
  return (opt_.window <= 0 || opt_.window >= tok_.num_tokens()) ? tok_.num_tokens() : opt_.window;
}

torch::Tensor SequenceAutoencoder::position_embedding(const data::TokenPositions& pos, bool decoder) {
  if (decoder) return dec_global_->forward(pos.global) + dec_layer_->forward(pos.layer) + dec_in_layer_->forward(pos.in_layer);
  return enc_global_->forward(pos.global) + enc_layer_->forward(pos.layer) + enc_in_layer_->forward(pos.in_layer);
}

torch::Tensor SequenceAutoencoder::encode_tokens(const torch::Tensor& tokens, const data::TokenPositions& pos) {
  auto x = drop_->forward(embed_->forward(tokens) + position_embedding(pos, false));
  for (const auto& blk : *encoder_) x = blk->as<TransformerBlock>()->forward(x);
  return torch::tanh(bottleneck_->forward(x));
}

torch::Tensor SequenceAutoencoder::decode_tokens(const torch::Tensor& latents, const data::TokenPositions& pos) {
  auto x = drop_->forward(decoder_input_->forward(latents) + position_embedding(pos, true));
  for (const auto& blk : *decoder_) x = blk->as<TransformerBlock>()->forward(x);
  return deembed_->forward(x);
}

AeOutput SequenceAutoencoder::forward_view(const torch::Tensor& w, const KeyedDraws& draws) {
  auto win = tok_.random_window(tok_.tokenize(w), window(), draws);
  auto latents = encode_tokens(win.tokens, win.positions);
  AeOutput out;
  out.z = latents.mean(1);
  out.recon = decode_tokens(latents, win.positions);
  out.target = win.tokens;
  out.mask = win.mask;
  out.layer = win.positions.layer.unsqueeze(2);
  return out;
}

torch::Tensor SequenceAutoencoder::embed(const torch::Tensor& w) {
  auto tokens = tok_.tokenize(w);
  const int64_t b = w.size(0), t = tok_.num_tokens(), win = window();
  auto dev = w.device();
  torch::Tensor sum;
  for (int64_t start = 0; start < t; start += win) {
    const int64_t n = std::min(win, t - start);
    data::TokenPositions pos;
    const auto& p = tok_.positions();
    pos.global = p.global.narrow(0, start, n).to(dev).unsqueeze(0).expand({b, n});
    pos.layer = p.layer.narrow(0, start, n).to(dev).unsqueeze(0).expand({b, n});
    pos.in_layer = p.in_layer.narrow(0, start, n).to(dev).unsqueeze(0).expand({b, n});
    auto part = encode_tokens(tokens.narrow(1, start, n), pos).sum(1);
    sum = sum.defined() ? sum + part : part;
  }
  return sum / static_cast<double>(t);
}

double SequenceAutoencoder::forward_flops(int64_t batch) const {
  const double b = batch, d = opt_.d_model, w = window();
  double f = 2 * (2.0 * b * w * tok_.token_size() * d);  // embed + de-embed
  f += 2 * opt_.blocks * block_forward_flops(batch, static_cast<int64_t>(w), opt_.d_model, opt_.d_ff);
  f += 2 * (2.0 * b * w * d * opt_.latent);  // bottleneck + decoder input
  return f;
}

}  // namespace hyperrep::model
