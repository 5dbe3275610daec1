// Throughput of the hyper-representation autoencoder: forward+backward training steps per
// second at batch 500 (two augmented views, reconstruction + NT-Xent with gamma 0.5) for the
// TETRIS-SEED and MNIST-SEED settings (configs/ae/*.toml), and the achieved matmul FLOP rate as
// a fraction of this machine's fp32 torch::mm rate measured in the same run. A step is what the
// trainer does: both views, forward, backward and an Adam step. On the CPU each case is also run by
// its plain-PyTorch peer (bench/peer_autoencoder.py, /usr/bin/python3 with Debian's python3-torch:
// tools/install_deps.sh --python) at the same batch, steps and threads, and the ratio printed.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/bench_common.h"
#include "common/runtime.h"
#include "data/augment.h"
#include "model/autoencoder.h"
#include "model/losses.h"

using namespace hyperrep;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
}

// FLOP/s of an n x n fp32 matmul after warm-up.
double matmul_rate(int64_t n, const torch::Device& dev) {
  auto a = torch::randn({n, n}, torch::TensorOptions().device(dev)), b = torch::randn({n, n}, torch::TensorOptions().device(dev));
  for (int i = 0; i < 2; ++i) torch::mm(a, b);
  sync(dev);
  int reps = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (reps < 3 || seconds_since(t0) < 1.0) {
    torch::mm(a, b);
    ++reps;
    if (reps % 4 == 0) sync(dev);
  }
  sync(dev);
  return 2.0 * n * n * n * reps / seconds_since(t0);
}

struct Case {
  const char* name;
  const char* peer;  // --case of bench/peer_autoencoder.py
  std::vector<std::string> arch;
  std::vector<int64_t> input_shape;
  int64_t d_model, d_ff, latent;
};

void run_case(const Case& c, int64_t batch, int warmup, int steps, double mm_rate, const torch::Device& dev, bool bf16,
              const std::string& profile) {
  auto arch = zoo::Architecture::parse(c.arch, c.input_shape);
  model::AutoencoderOptions opt;
  opt.d_model = c.d_model, opt.heads = 4, opt.blocks = 2, opt.d_ff = c.d_ff, opt.latent = c.latent;
  opt.attention = model::resolve_attention("auto");
  auto ae = std::make_shared<model::NeuronAutoencoder>(arch, opt);
  ae->to(dev);
  ae->train();
  AugmentConfig aug_cfg;
  auto aug = data::Augmenter::from_config(aug_cfg, arch, 0);
  auto w = (0.1 * torch::randn({batch, arch.num_params()})).to(dev);
  auto layer_var = torch::full({static_cast<int64_t>(arch.param_layers().size())}, 0.01, torch::TensorOptions().device(dev));
  const double gamma = 0.5;
  const KeyedDraws draws1(0, 0, torch::arange(batch, torch::kInt64) * 2),
      draws2(0, 0, torch::arange(batch, torch::kInt64) * 2 + 1);
  torch::optim::Adam adam(ae->parameters(), torch::optim::AdamOptions(1e-4).weight_decay(1e-9));  // the trainer's default

  // The phases are user scopes of the autograd profiler (--profile): bench/profile_summary.py
  // attributes every op's self time to its phase.
  auto step = [&] {
    ae->zero_grad();
    torch::Tensor loss;
    {
      const CudaBf16Autocast autocast(bf16);
      // Keyed augmentation and dropout, as the trainer runs them (common/keyed_random.h).
      torch::Tensor v1, v2;
      {
        RECORD_USER_SCOPE("phase:augment");
        v1 = aug.view(w, draws1), v2 = aug.view(w, draws2);
      }
      model::AeOutput o1, o2;
      {
        RECORD_USER_SCOPE("phase:forward");
        o1 = model::forward_view_keyed(*ae, v1, draws1), o2 = model::forward_view_keyed(*ae, v2, draws2);
      }
      RECORD_USER_SCOPE("phase:loss");
      auto recon = 0.5 * (model::reconstruction_loss(o1.recon, o1.target, o1.mask, o1.layer, layer_var, 1e-4) +
                          model::reconstruction_loss(o2.recon, o2.target, o2.mask, o2.layer, layer_var, 1e-4));
      auto contrast = model::nt_xent(ae->project(o1.z), ae->project(o2.z), 0.1);
      loss = model::mix_losses(gamma, contrast, recon);
    }
    {
      RECORD_USER_SCOPE("phase:backward");
      loss.backward();
    }
    RECORD_USER_SCOPE("phase:optimizer");
    adam.step();
  };
  for (int i = 0; i < warmup; ++i) step();
  sync(dev);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  sync(dev);
  const double secs = seconds_since(t0);
  double one_thread_secs = 0;  // the same steps on one thread (and one OpenBLAS thread), when running on more
  const int threads = torch::get_num_threads(), blas = blas_threads();
  if (dev.is_cpu() && std::max(threads, blas) > 1) {
    torch::set_num_threads(1);
    set_blas_threads(1);
    step();
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    one_thread_secs = seconds_since(t1);
    torch::set_num_threads(threads);
    set_blas_threads(blas);
  }
  if (!profile.empty()) {  // one more step under the autograd profiler, as a Chrome trace
    const std::string file = profile + "." + c.peer + ".json";
    {
      torch::autograd::profiler::RecordProfile guard(file);
      step();
    }
    std::printf("%-12s profile of one step: %s (summary: /usr/bin/python3 bench/profile_summary.py %s)\n", c.name, file.c_str(),
                file.c_str());
  }

  // Matmul FLOPs per step: two views through the AE and the head, NT-Xent similarities, x3 for
  // forward + backward (the backward of a matmul is two matmuls of the same size).
  const auto& o = ae->options();
  const double head = 2.0 * batch *
                      (o.latent * o.projection_hidden + (o.projection_layers - 2) * o.projection_hidden * o.projection_hidden +
                       o.projection_hidden * o.projection_out);
  const double sim = 2.0 * (2.0 * batch) * (2.0 * batch) * o.projection_out;
  const double flops = 3.0 * (2 * ae->forward_flops(batch) + 2 * head + sim);
  const double rate = flops * steps / secs;
  std::printf(
      "%-12s %s params %10lld (without head)  batch %lld  steps %d  %.3f steps/s  %.1f samples/s  %.2f s/step  "
      "%.1f GFLOP/step  %.1f GFLOP/s  = %.1f%% of fp32 mm\n",
      c.name, bf16 ? "bf16" : "fp32", static_cast<long long>(ae->num_parameters(false)), static_cast<long long>(batch), steps,
      steps / secs, batch * steps / secs, secs / steps, flops / 1e9, rate / 1e9, 100.0 * rate / mm_rate);
  if (one_thread_secs > 0) {
    std::printf("%-12s the same on 1 thread + 1 OpenBLAS thread: %.2f s/step; %d + %d threads / 1 = %.2f\n", c.name,
                one_thread_secs / steps, threads, blas, secs / one_thread_secs);
  }
  std::fflush(stdout);
  if (!dev.is_cpu()) return;
  std::string why;
  const auto peer =
      bench::run_peer("peer_autoencoder.py",
                      {"--case", c.peer, "--batch", std::to_string(batch), "--steps", std::to_string(steps), "--warmup",
                       std::to_string(std::max(warmup, 1)), "--threads", std::to_string(torch::get_num_threads()),
                       "--blas-threads", std::to_string(std::max(blas_threads(), 1))},
                      "s/step", &why);
  if (peer) {
    std::printf(
        "%-12s peer: plain PyTorch eager (bench/peer_autoencoder.py), same torch, %d intra-op + %d OpenBLAS threads: %.2f "
        "s/step; "
        "hyperrep / peer = %.2f\n",
        c.name, torch::get_num_threads(), std::max(blas_threads(), 1), *peer, (secs / steps) / *peer);
  } else {
    std::printf("%-12s peer: %s\n", c.name, why.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // As the trainer runs (launch/main.cpp): libgomp waits passively, unless the caller chose a
  // policy. Its spinning workers hold the cores OpenBLAS's threads need (TETRIS-SEED at 2 threads:
  // 1.94 s a step spinning, 0.85-0.95 s waiting passively). The peer inherits the environment.
  restart_with_passive_openmp_wait(argv);
  int64_t batch = 500, mm_n = 2048;
  int tetris_steps = 5, mnist_steps = 1, warmup = 1, mnist_warmup = 0, threads = 0, blas = 0;
  std::string device = "auto", precision = "fp32", profile;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--batch") batch = v;
    else if (k == "--tetris-steps") tetris_steps = v;
    else if (k == "--mnist-steps") mnist_steps = v;
    else if (k == "--warmup") warmup = v;
    else if (k == "--mnist-warmup") mnist_warmup = v;
    else if (k == "--mm") mm_n = v;
    else if (k == "--threads") threads = v;
    else if (k == "--blas-threads") blas = v;
    else if (k == "--device") device = argv[i + 1];
    else if (k == "--precision") precision = argv[i + 1];
    else if (k == "--profile") profile = argv[i + 1];
    else {
      std::fprintf(stderr,
                   "usage: bench_autoencoder [--batch 500] [--tetris-steps 5] [--mnist-steps 1] [--warmup 1] "
                   "[--mnist-warmup 0] [--mm 2048] [--threads 0 (= the trainer's default)] [--blas-threads 0 (= as the trainer)] "
                   "[--profile PREFIX] [--device auto|cpu|cuda] "
                   "[--precision fp32|bf16]\n");
      return 2;
    }
  }
  if (device == "auto") device = torch::cuda::is_available() ? "cuda" : "cpu";
  if ((device != "cpu" && device != "cuda") || (precision != "fp32" && precision != "bf16")) {
    std::fprintf(stderr, "bench_autoencoder: --device takes auto, cpu or cuda; --precision fp32 or bf16\n");
    return 2;
  }
  if (device == "cuda" && !torch::cuda::is_available()) {
    std::fprintf(stderr, "bench_autoencoder: --device cuda, but no CUDA device is visible\n");
    return 2;
  }
  if (precision == "bf16" && device != "cuda") {
    std::fprintf(stderr, "bench_autoencoder: --precision bf16 is bf16 autocast on CUDA (use --device cuda)\n");
    return 2;
  }
  const bool bf16 = precision == "bf16";
  const torch::Device dev = device == "cuda" ? torch::kCUDA : torch::kCPU;
  // The threads of autoencoder training (common/runtime.h: one per rank unless asked, OpenBLAS on
  // as many); --blas-threads overrides the pool for experiments.
  configure_threads(threads, 1, dev.is_cpu() ? ThreadStage::kTraining : ThreadStage::kGeneral);
  if (blas > 0) set_blas_threads(blas);
  torch::manual_seed(0);
  const double mm = matmul_rate(mm_n, dev);
  std::printf(
      "device %s, %d intra-op threads (OMP_WAIT_POLICY %s), %d OpenBLAS threads, attention %s; fp32 mm %lldx%lld: %.1f GFLOP/s\n",
      dev.str().c_str(), torch::get_num_threads(), std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "default",
      blas_threads(), model::resolve_attention("auto") == model::AttentionKind::kFused ? "fused" : "plain",
      static_cast<long long>(mm_n), static_cast<long long>(mm_n), mm / 1e9);
  std::fflush(stdout);
  const Case tetris{"TETRIS-SEED", "tetris", {"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"}, {1, 4, 4}, 256,
                    512,           50};
  const Case mnist{"MNIST-SEED",
                   "mnist",
                   {"conv(1,8,5)", "maxpool(2)", "act", "conv(8,6,5)", "maxpool(2)", "act", "conv(6,4,2)", "act", "flatten",
                    "linear(36,20)", "act", "linear(20,10)"},
                   {1, 28, 28},
                   800,
                   900,
                   700};
  if (tetris_steps > 0) run_case(tetris, batch, warmup, tetris_steps, mm, dev, bf16, profile);
  if (mnist_steps > 0) run_case(mnist, batch, mnist_warmup, mnist_steps, mm, dev, bf16, profile);
  return 0;
}
