// One training step of a small autoencoder on CUDA equals the same step on the CPU: same
// initial parameters, same inputs, same loss (reconstruction + NT-Xent), gradients and the
// parameters after one Adam step agree to fp32 accuracy (TF32 off).
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <cmath>

#include "model/autoencoder.h"
#include "model/losses.h"

using namespace hyperrep;

namespace {

struct StepResult {
  double loss = 0;
  std::vector<torch::Tensor> grads, params;  // on the CPU
};

std::shared_ptr<model::NeuronAutoencoder> small_autoencoder(const zoo::Architecture& arch) {
  model::AutoencoderOptions o;
  o.d_model = 32, o.heads = 2, o.blocks = 1, o.d_ff = 64, o.latent = 8;
  o.dropout = 0.1;  // keyed masks (common/keyed_random.h) are drawn on the CPU: the same on both devices
  o.projection_layers = 2, o.projection_hidden = 32, o.projection_out = 16;
  torch::manual_seed(7);  // the CPU generator draws the init on both devices
  return std::make_shared<model::NeuronAutoencoder>(arch, o);
}

StepResult one_step(const zoo::Architecture& arch, const torch::Tensor& w_cpu, const torch::Device& dev) {
  auto ae = small_autoencoder(arch);
  ae->to(dev);
  ae->train();
  torch::optim::Adam adam(ae->parameters(), torch::optim::AdamOptions(1e-3));
  auto w = w_cpu.to(dev);
  const KeyedDraws draws1(0, 0, torch::arange(w.size(0)) * 2), draws2(0, 0, torch::arange(w.size(0)) * 2 + 1);
  auto layer_var = torch::linspace(0.01, 0.05, static_cast<int64_t>(arch.param_layers().size())).to(dev);
  auto o1 = model::forward_view_keyed(*ae, w, draws1);
  auto o2 = model::forward_view_keyed(*ae, 1.1 * w, draws2);
  auto recon = 0.5 * (model::reconstruction_loss(o1.recon, o1.target, o1.mask, o1.layer, layer_var, 1e-4) +
                      model::reconstruction_loss(o2.recon, o2.target, o2.mask, o2.layer, layer_var, 1e-4));
  auto contrast = model::nt_xent(ae->project(o1.z), ae->project(o2.z), 0.1);
  auto loss = model::mix_losses(0.5, contrast, recon);
  adam.zero_grad();
  loss.backward();
  StepResult r;
  r.loss = loss.item<double>();
  for (auto& p : ae->parameters()) r.grads.push_back(p.grad().cpu().clone());
  adam.step();
  for (auto& p : ae->parameters()) r.params.push_back(p.detach().cpu().clone());
  return r;
}

}  // namespace

TEST(CudaStep, EqualsTheCpuStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // Full fp32 matmuls on the GPU, else TF32 alone differs by ~1e-3.
  at::globalContext().setFloat32MatmulPrecision("highest");
  at::globalContext().setAllowTF32CuDNN(false);
  auto arch = zoo::Architecture::parse({"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  torch::manual_seed(11);
  auto w = 0.2 * torch::randn({24, arch.num_params()});

  const auto cpu = one_step(arch, w, torch::kCPU);
  const auto gpu = one_step(arch, w, torch::kCUDA);

  EXPECT_TRUE(std::isfinite(cpu.loss));
  EXPECT_NEAR(gpu.loss, cpu.loss, 1e-4 * std::abs(cpu.loss)) << "cpu " << cpu.loss << " cuda " << gpu.loss;
  ASSERT_EQ(cpu.params.size(), gpu.params.size());
  const double lr = 1e-3;
  for (size_t k = 0; k < cpu.params.size(); ++k) {
    const auto& gc = cpu.grads[k];
    const auto& gg = gpu.grads[k];
    const double scale = gc.abs().max().item<double>();
    // Gradients: same values up to fp32 summation order.
    EXPECT_LE((gg - gc).abs().max().item<double>(), 1e-4 * scale + 1e-7) << "gradient of parameter " << k;
    // Parameters after the step, rtol 1e-4. Adam's first step moves every entry by about
    // lr * sign(g), so entries whose gradient is at rounding level may step either way: they
    // are held to the 2 * lr bound only.
    const auto clear = gc.abs() > 1e-3 * scale;
    const auto diff = (gpu.params[k] - cpu.params[k]).abs();
    const auto bound = 1e-4 * cpu.params[k].abs() + 1e-6;
    EXPECT_TRUE((diff.masked_select(clear) <= bound.masked_select(clear)).all().item<bool>())
        << "parameter " << k << " max diff " << diff.max().item<double>();
    EXPECT_LE(diff.max().item<double>(), 2 * lr + 1e-6) << "parameter " << k;
  }
}
