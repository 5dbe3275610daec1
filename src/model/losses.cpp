#include "model/losses.h"

#include <limits>

#include "common/error.h"

namespace hyperrep::model {

torch::Tensor reconstruction_loss(const torch::Tensor& recon, const torch::Tensor& target, const torch::Tensor& mask,
                                  const torch::Tensor& layer, const torch::Tensor& layer_variance, double floor,
                                  double counted) {
  HYPERREP_CHECK(recon.sizes() == target.sizes(), InternalError, "reconstruction_loss: recon ", recon.sizes(), " and target ",
                 target.sizes(), " differ");
  auto err = (recon - target).pow(2);
  if (layer_variance.defined()) {
    HYPERREP_CHECK(layer.defined(), InternalError, "reconstruction_loss: layer-wise normalisation needs the layer ids");
    auto inv = 1.0 / layer_variance.to(recon.device(), recon.scalar_type()).clamp_min(floor);
    err = err * inv.index({layer.to(recon.device())});
  }
  if (!mask.defined()) return counted > 0 ? err.sum() / counted : err.mean();
  auto m = mask.to(recon.device(), recon.scalar_type()).expand(err.sizes());
  if (counted > 0) return (err * m).sum() / counted;  // a double: exact whatever the dtype of m
  return (err * m).sum() / m.sum().clamp_min(1.0);
}

double reconstruction_entries(const torch::Tensor& recon, const torch::Tensor& mask) {
  if (!mask.defined()) return static_cast<double>(recon.numel());
  return mask.to(torch::kFloat64).expand(recon.sizes()).sum().item<double>();
}

torch::Tensor nt_xent(const torch::Tensor& a, const torch::Tensor& b, double temperature, ViewSlice local) {
  HYPERREP_CHECK(a.dim() == 2 && a.sizes() == b.sizes(), InternalError, "nt_xent: views must be two [M, o] tensors, got ",
                 a.sizes(), " and ", b.sizes());
  HYPERREP_CHECK(temperature > 0, ConfigError, "loss.temperature must be positive");
  const int64_t m = a.size(0);
  const int64_t count = local.count < 0 ? m : local.count;
  HYPERREP_CHECK(local.offset >= 0 && local.offset + count <= m, InternalError, "nt_xent: local slice [", local.offset, ", ",
                 local.offset + count, ") outside the ", m, " gathered rows");
  auto z = torch::nn::functional::normalize(torch::cat({a, b}, 0), torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(a.device());
  auto rows_a = torch::arange(local.offset, local.offset + count, opts);
  auto anchors = torch::cat({rows_a, rows_a + m});                            // [2c] indices into z
  auto twins = torch::cat({rows_a + m, rows_a});                              // their positives
  auto sim = torch::matmul(z.index_select(0, anchors), z.t()) / temperature;  // [2c, 2M]
  auto self = torch::zeros_like(sim, torch::kBool).scatter_(1, anchors.unsqueeze(1), true);
  sim = sim.masked_fill(self, -std::numeric_limits<double>::infinity());
  auto positive = sim.gather(1, twins.unsqueeze(1)).squeeze(1);
  return (torch::logsumexp(sim, 1) - positive).sum() / static_cast<double>(2 * m);
}

torch::Tensor mix_losses(double gamma, const torch::Tensor& contrast, const torch::Tensor& recon) {
  HYPERREP_CHECK(gamma >= 0 && gamma <= 1, ConfigError, "loss.gamma must lie in [0, 1]");
  if (gamma == 0) return recon;
  if (gamma == 1) return contrast;
  return gamma * contrast + (1 - gamma) * recon;
}

}  // namespace hyperrep::model
