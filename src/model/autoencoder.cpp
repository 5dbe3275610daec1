#include "model/autoencoder.h"

#include "common/enums.h"
#include "common/error.h"
#include "tasks/image_data.h"

namespace hyperrep::model {
namespace {

torch::Tensor learned_positions(int64_t tokens, int64_t d) { return torch::randn({1, tokens, d}) * 0.02; }

// tokens [B, n, k] -> [B, n, k + 1], the last column log(RMS + 1e-3). A pre-norm block sees a
// token only after LayerNorm, which removes its scale; in a seed zoo the growth of the weights is
// most of what distinguishes one epoch from the next. The floor keeps erased (all-zero) tokens
// finite and their gradient bounded.
torch::Tensor with_log_rms(const torch::Tensor& tokens) {
  auto rms = (tokens.pow(2).mean(-1, /*keepdim=*/true) + 1e-12).sqrt();
  return torch::cat({tokens, torch::log(rms + 1e-3)}, -1);
}

}  // namespace

AutoencoderOptions AutoencoderOptions::from_config(const ModelConfig& m) {
  AutoencoderOptions o;
  o.d_model = m.d_model, o.heads = m.heads, o.blocks = m.blocks, o.d_ff = m.d_ff, o.latent = m.latent;
  o.dropout = m.dropout;
  o.attention = resolve_attention(m.attention);
  o.projection_layers = m.projection_layers, o.projection_hidden = m.projection_hidden;
  o.projection_out = m.projection_out;
  o.token_size = m.token_size, o.window = m.window;
  o.token_scale = m.token_scale;
  return o;
}

zoo::Architecture member_architecture(const Config& cfg) {
  return zoo::Architecture::parse(cfg.zoo.architecture, tasks::task_input_shape(parse_enum<Task>(cfg.zoo.task, "zoo.task")));
}

namespace {

// A linear layer followed by batch norm: the norm subtracts the batch mean, so the layer's bias
// has zero gradient in exact arithmetic and rounding noise in floats, which Adam would turn into
// full-size steps that differ between runs that differ only in rounding. It is held at zero and
// out of training (the parameter stays, so checkpoints keep their layout).
torch::nn::Linear linear_before_norm(int64_t in, int64_t out) {
  torch::nn::Linear lin(in, out);
  torch::NoGradGuard no_grad;
  lin->bias.zero_();
  lin->bias.set_requires_grad(false);
  return lin;
}

}  // namespace

ProjectionHeadImpl::ProjectionHeadImpl(int64_t latent, int64_t layers, int64_t hidden, int64_t out) {
  HYPERREP_CHECK(layers >= 1, ConfigError, "model.projection_layers must be at least 1");
  net = torch::nn::Sequential();
  int64_t in = latent;
  for (int64_t i = 0; i + 1 < layers; ++i) {
    net->push_back(linear_before_norm(in, hidden));
    net->push_back(torch::nn::BatchNorm1d(hidden));
    net->push_back(torch::nn::ReLU());
    in = hidden;
  }
  net->push_back(linear_before_norm(in, out));
  net->push_back(torch::nn::BatchNorm1d(out));
  register_module("net", net);
}

std::map<std::string, int64_t> AutoencoderBase::parameter_groups() const {
  std::map<std::string, int64_t> g{{"embedder", 0}, {"encoder", 0}, {"bottleneck", 0}, {"decoder", 0}, {"head", 0}};
  for (const auto& p : named_parameters(true)) {
    const std::string root = p.key().substr(0, p.key().find('.'));
    std::string group;
    if (root == "head") group = "head";
    else if (root == "encoder") group = "encoder";
    else if (root == "bottleneck") group = "bottleneck";
    else if (root == "embed" || root == "compression_token" || root == "encoder_positions" || root.rfind("enc_", 0) == 0)
      group = "embedder";
    else if (root == "decoder" || root == "decoder_input" || root == "decoder_positions" || root == "deembed" ||
             root.rfind("dec_", 0) == 0)
      group = "decoder";
    else HYPERREP_THROW(InternalError, "parameter_groups: unassigned parameter ", p.key());
    g[group] += p.value().numel();
  }
  return g;
}

int64_t AutoencoderBase::num_parameters(bool with_head) const {
  int64_t n = 0;
  for (const auto& [name, count] : parameter_groups()) {
    if (with_head || name != "head") n += count;
  }
  return n;
}

void AutoencoderBase::register_block_stacks(torch::nn::ModuleList& encoder, torch::nn::ModuleList& decoder) {
  encoder = register_module("encoder", torch::nn::ModuleList());
  decoder = register_module("decoder", torch::nn::ModuleList());
  for (int64_t i = 0; i < opt_.blocks; ++i) {
    encoder->push_back(TransformerBlock(opt_.d_model, opt_.heads, opt_.d_ff, opt_.dropout, opt_.attention));
    decoder->push_back(TransformerBlock(opt_.d_model, opt_.heads, opt_.d_ff, opt_.dropout, opt_.attention));
  }
}

NeuronAutoencoder::NeuronAutoencoder(const zoo::Architecture& arch, const AutoencoderOptions& opt) : tok_(arch) {
  opt_ = opt;
  const int64_t d = opt.d_model, t = tok_.num_tokens();
  embed_ = register_module("embed", torch::nn::ModuleList());
  deembed_ = register_module("deembed", torch::nn::ModuleList());
  for (int64_t dim : tok_.token_dims()) {
    embed_->push_back(torch::nn::Linear(dim + (opt.token_scale ? 1 : 0), d));
    deembed_->push_back(torch::nn::Linear(d, dim));
  }
  compression_token_ = register_parameter("compression_token", learned_positions(1, d));
  encoder_positions_ = register_parameter("encoder_positions", learned_positions(t + 1, d));
  decoder_positions_ = register_parameter("decoder_positions", learned_positions(t, d));
  register_block_stacks(encoder_, decoder_);
  bottleneck_ = register_module("bottleneck", torch::nn::Linear(d, opt.latent));
  decoder_input_ = register_module("decoder_input", torch::nn::Linear(opt.latent, t * d));
  drop_ = register_module("drop", KeyedDropout(opt.dropout));
  head = register_module("head", ProjectionHead(opt.latent, opt.projection_layers, opt.projection_hidden, opt.projection_out));
  std::vector<int64_t> ids;
  for (size_t i = 0; i < tok_.layers().size(); ++i) {
    const auto& l = tok_.layers()[i];
    ids.insert(ids.end(), l.neurons * l.token_dim(), static_cast<int64_t>(i));
  }
  element_layer_ = torch::tensor(ids, torch::kInt64);
}

torch::Tensor NeuronAutoencoder::encode(const torch::Tensor& w) {
  auto tokens = tok_.tokenize(w);
  std::vector<torch::Tensor> embedded;
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto t = opt_.token_scale ? with_log_rms(tokens[i]) : tokens[i];
    embedded.push_back(embed_[i]->as<torch::nn::Linear>()->forward(t));
  }
  auto x = torch::cat(embedded, 1);
  x = torch::cat({compression_token_.expand({x.size(0), 1, x.size(2)}), x}, 1) + encoder_positions_;
  x = drop_->forward(x);
  // The code reads only the compression token's row: the last block computes just that row.
  const size_t blocks = encoder_->size();
  for (size_t i = 0; i + 1 < blocks; ++i) x = encoder_[i]->as<TransformerBlock>()->forward(x);
  if (blocks > 0) x = encoder_[blocks - 1]->as<TransformerBlock>()->forward_first(x);
  return torch::tanh(bottleneck_->forward(x.select(1, 0)));
}

torch::Tensor NeuronAutoencoder::decode(const torch::Tensor& z) {
  const int64_t t = tok_.num_tokens();
  auto x = decoder_input_->forward(z).view({z.size(0), t, opt_.d_model}) + decoder_positions_;
  x = drop_->forward(x);
  for (const auto& blk : *decoder_) x = blk->as<TransformerBlock>()->forward(x);
  std::vector<torch::Tensor> tokens;
  int64_t start = 0;
  for (size_t i = 0; i < tok_.layers().size(); ++i) {
    const int64_t n = tok_.layers()[i].neurons;
    tokens.push_back(deembed_[i]->as<torch::nn::Linear>()->forward(x.narrow(1, start, n)));
    start += n;
  }
  return tok_.detokenize(tokens);
}

AeOutput NeuronAutoencoder::forward_view(const torch::Tensor& w, const KeyedDraws&) {
  AeOutput out;
  out.z = encode(w);
  out.recon = decode(out.z);
  out.target = w;
  out.layer = element_layer_.to(w.device());
  return out;
}

double NeuronAutoencoder::forward_flops(int64_t batch) const {
  const double b = batch, d = opt_.d_model;
  const int64_t t = tok_.num_tokens();
  double f = 0;
  const int64_t scale_input = opt_.token_scale ? 1 : 0;
  for (const auto& l : tok_.layers()) {
    f += 2.0 * b * l.neurons * (l.token_dim() + scale_input) * d + 2.0 * b * l.neurons * l.token_dim() * d;  // embed, de-embed
  }
  f += opt_.blocks * block_forward_flops(batch, t, opt_.d_model, opt_.d_ff);  // decoder
  if (opt_.blocks > 0) {  // encoder: the last block computes only the compression token's row
    f += (opt_.blocks - 1) * block_forward_flops(batch, t + 1, opt_.d_model, opt_.d_ff) +
         first_row_block_flops(batch, t + 1, opt_.d_model, opt_.d_ff);
  }
  f += 2.0 * b * d * opt_.latent + 2.0 * b * opt_.latent * t * d;  // bottleneck, decoder input
  return f;
}

AeOutput forward_view_keyed(AutoencoderBase& ae, const torch::Tensor& w, const KeyedDraws& draws) {
  const DropoutKeys scope(draws);
  return ae.forward_view(w, draws);
}

std::shared_ptr<AutoencoderBase> make_autoencoder(const zoo::Architecture& arch, const ModelConfig& model) {
  const auto opt = AutoencoderOptions::from_config(model);
  switch (parse_enum<Tokenizer>(model.tokenizer, "model.tokenizer")) {
    case Tokenizer::kPadded: return std::make_shared<SequenceAutoencoder>(arch, opt);
    case Tokenizer::kNeuron: return std::make_shared<NeuronAutoencoder>(arch, opt);
  }
  HYPERREP_THROW(InternalError, "tokenizer without an autoencoder");
}

std::shared_ptr<AutoencoderBase> make_autoencoder(const Config& cfg) {
  return make_autoencoder(member_architecture(cfg), cfg.model);
}

}  // namespace hyperrep::model
