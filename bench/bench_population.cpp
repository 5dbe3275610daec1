// Population training throughput: member-epochs per second of CNN-s on a Fashion-MNIST subset for
// P = 1, 8, 32, 128, with the speedup over P = 1 measured in the same run. An epoch here is one
// pass over the training subset plus the per-epoch evaluation (train/val/test) as in generation.
// A second baseline is the conventional way the published zoos were made, one network per process:
// the same CNN-s as a torch::nn::Sequential with torch::optim::Adam at batch 10, timed on one thread
// and multiplied by the thread count (ideal scaling of one process per core, so the speedup over it
// is never flattered). The third is the same in plain PyTorch eager (bench/peer_zoo.py, run with
// /usr/bin/python3 and Debian's python3-torch: tools/install_deps.sh --python), also on one thread
// times the thread count; without it the table says that the peer is not installed.
// usage: bench_population [train_images=2000] [device=cpu] [P list=1,8,32,128] [threads=0] [chunk_members=default]
// (threads 0 = all cores, as zoo generation with one rank per node; chunk_members: see PopulationOptions)
// OMP_WAIT_POLICY=PASSIVE only on an oversubscribed machine: sleeping OpenMP workers make the
// short parallel regions of a small population slow (P = 1 at 2 threads: 9.6 -> 3.9 member-epochs/s).
// OpenBLAS's own pool is held at one thread by configure_threads.
// BENCH_NETWORK=cnn_s|small_cnn_zoo runs one table; BENCH_PROFILE=PREFIX also writes a profile (below).
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "bench/bench_common.h"
#include "common/runtime.h"
#include "population/population.h"
#include "tasks/image_data.h"

using namespace hyperrep;

namespace {

// The member as the torch.nn.Sequential that `hyperrep zoo export` maps it to (tanh activations).
torch::nn::Sequential conventional_model(const zoo::Architecture& arch) {
  torch::nn::Sequential seq;
  for (const auto& l : arch.layers()) {
    switch (l.kind) {
      case zoo::LayerKind::kConv:
        seq->push_back(
            torch::nn::Conv2d(torch::nn::Conv2dOptions(l.in, l.out, l.kernel).stride(l.stride).padding(l.padding).bias(l.bias)));
        break;
      case zoo::LayerKind::kLinear: seq->push_back(torch::nn::Linear(torch::nn::LinearOptions(l.in, l.out).bias(l.bias))); break;
      case zoo::LayerKind::kMaxPool: seq->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(l.kernel))); break;
      case zoo::LayerKind::kAvgPool: seq->push_back(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(l.kernel))); break;
      case zoo::LayerKind::kGap:
        seq->push_back(torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)));
        seq->push_back(torch::nn::Flatten());
        break;
      case zoo::LayerKind::kAct: seq->push_back(torch::nn::Tanh()); break;
      case zoo::LayerKind::kFlatten: seq->push_back(torch::nn::Flatten()); break;
      case zoo::LayerKind::kDropout: seq->push_back(torch::nn::Dropout()); break;
    }
  }
  return seq;
}

// Member-epochs per second of one network trained the conventional way on one thread: an epoch of
// Adam steps at batch `batch` over a shuffled training set, then loss and accuracy on each split.
// Multiply-add FLOPs of one member-epoch: per training image the forward, the weight gradient
// and the input gradient of every conv/linear layer (none for the first layer's input), and per
// evaluated image (train, val and test) one forward.
double member_epoch_flops(const zoo::Architecture& arch, const tasks::TaskData& task) {
  double forward = 0, input_grad = 0;
  bool first = true;
  for (const auto& l : arch.layers()) {
    if (!l.has_params()) continue;
    const double positions = l.kind == zoo::LayerKind::kConv ? static_cast<double>(l.out_shape[1] * l.out_shape[2]) : 1.0;
    const double f = 2.0 * static_cast<double>(l.fan_in() * l.out) * positions;
    forward += f;
    if (!first) input_grad += f;
    first = false;
  }
  const double evaluated = static_cast<double>(task.train.size() + task.val.size() + task.test.size());
  return static_cast<double>(task.train.size()) * (2 * forward + input_grad) + evaluated * forward;
}

double conventional_rate(const zoo::Architecture& arch, const tasks::TaskData& task, int64_t batch, int epochs) {
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  torch::manual_seed(1);
  auto model = conventional_model(arch);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(3e-4));
  const int64_t n = task.train.size();
  const double t0 = bench::now_s();
  for (int e = 0; e < epochs; ++e) {
    model->train();
    const auto perm = torch::randperm(n);
    for (int64_t i = 0; i + batch <= n; i += batch) {
      const auto idx = perm.slice(0, i, i + batch);
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(task.train.x.index_select(0, idx)),
                                                       task.train.y.index_select(0, idx));
      loss.backward();
      opt.step();
    }
    model->eval();
    torch::NoGradGuard no_grad;
    for (const auto* split : {&task.train, &task.val, &task.test}) {
      auto logits = model->forward(split->x);
      volatile double sink = torch::nn::functional::cross_entropy(logits, split->y).item<double>() +
                             logits.argmax(1).eq(split->y).sum().item<double>();
      (void)sink;
    }
  }
  const double rate = epochs / (bench::now_s() - t0);
  torch::set_num_threads(threads);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t train_images = argc > 1 ? std::atoll(argv[1]) : 2000;
  const torch::Device device = resolve_device(argc > 2 ? argv[2] : "cpu");
  std::vector<int64_t> ps = {1, 8, 32, 128};
  if (argc > 3) {
    ps.clear();
    std::stringstream ss(argv[3]);
    for (std::string t; std::getline(ss, t, ',');) ps.push_back(std::atoll(t.c_str()));
  }
  configure_threads(argc > 4 ? std::atoll(argv[4]) : 0, 1);
  const double gemm = bench::gemm_gflops();
  std::printf("threads %d, device %s, fp32 GEMM %.1f GFLOP/s (1024^2)\n", torch::get_num_threads(), device.str().c_str(), gemm);
  auto task =
      tasks::load_idx_task(tasks::kFashionMnistDir, train_images, train_images / 4, train_images / 2, 42, "fashion_mnist");
  task.to(device);
  const std::vector<std::string> cnn_s = {"conv(1,8,5)", "maxpool(2)", "act",     "conv(8,6,5)",   "maxpool(2)", "act",
                                          "conv(6,4,2)", "act",        "flatten", "linear(36,20)", "act",        "linear(20,10)"};
  // The Small CNN Zoo's network (BENCHMARKS.md §1): strided convolutions and global pooling.
  const std::vector<std::string> small_cnn_zoo = {
      "conv(1,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "gap", "linear(16,10)"};
  const char* only = std::getenv("BENCH_NETWORK");  // "cnn_s" or "small_cnn_zoo": one table only
  for (const auto& [name, spec] : {std::make_pair("CNN-s", cnn_s), std::make_pair("Small CNN Zoo network", small_cnn_zoo)}) {
    if (only && std::string(only) != (spec == cnn_s ? "cnn_s" : "small_cnn_zoo")) continue;
    auto arch = zoo::Architecture::parse(spec, task.input_shape);
    population::PopulationOptions opt;
    opt.batch_size = 10;
    if (argc > 5) opt.chunk_members = std::atoll(argv[5]);
    std::printf(
        "\n%s (%lld params), batch 10, %lld train / %lld val / %lld test images, 1 epoch + evaluation per P, "
        "members per chunk %lld (0 = from the activation budget)\n",
        name, static_cast<long long>(arch.num_params()), static_cast<long long>(task.train.size()),
        static_cast<long long>(task.val.size()), static_cast<long long>(task.test.size()),
        static_cast<long long>(opt.chunk_members));
    // The conventional baseline is a CPU one (one process per core); on CUDA its column reads 0.
    double conv_base = 0.0, peer_base = 0.0;
    if (device.is_cpu()) {
      std::string why;
      const auto peer =
          bench::run_peer("peer_zoo.py",
                          {"--network", spec == cnn_s ? "cnn_s" : "small_cnn_zoo", "--train", std::to_string(train_images),
                           "--epochs", "3", "--batch", std::to_string(opt.batch_size), "--threads", "1", "--blas-threads", "1"},
                          "member-epochs/s", &why);
      if (peer) {
        peer_base = *peer * torch::get_num_threads();
        std::printf(
            "peer: PyTorch eager, one network at a time (bench/peer_zoo.py): %.2f member-epochs/s on 1 thread (and 1 OpenBLAS "
            "thread), x %d threads = "
            "%.2f\n",
            *peer, torch::get_num_threads(), peer_base);
      } else {
        std::printf("peer: %s\n", why.c_str());
      }
      const double conv_1t = conventional_rate(arch, task, opt.batch_size, 3);
      conv_base = conv_1t * torch::get_num_threads();
      std::printf(
          "conventional one network per process (torch::nn + torch::optim::Adam): %.2f member-epochs/s on 1 thread, "
          "x %d threads = %.2f\n",
          conv_1t, torch::get_num_threads(), conv_base);
    }
    const double flops = member_epoch_flops(arch, task);
    std::printf(
        "member-epoch: %.3f GFLOP of convolutions and matrix products (training: forward and both gradients; "
        "evaluation of train, val and test: forward)\n",
        flops / 1e9);
    std::printf("%6s %10s %10s %14s %14s %9s %9s %9s %9s %9s\n", "P", "train_s", "eval_s", "m-epochs/s", "train-only", "speedup",
                "vs conv.", "vs peer", "GFLOP/s", "of GEMM");
    double base = 0.0;
    for (int64_t P : ps) {
      std::vector<zoo::MemberSpec> members;
      for (int64_t i = 0; i < P; ++i) {
        zoo::MemberSpec m;
        m.id = i, m.seed = i + 1, m.lr = 3e-4;
        members.push_back(m);
      }
      population::Population pop(arch, members, opt, device);
      // P = 1 is short: repeat it so that the timing is not noise.
      const int reps = P == 1 ? 3 : 1;
      double train_s = 0.0, eval_s = 0.0;
      for (int r = 0; r < reps; ++r) {
        double t0 = bench::now_s();
        pop.train_epoch(task.train, r + 1);
        double t1 = bench::now_s();
        pop.evaluate(task.train), pop.evaluate(task.val), pop.evaluate(task.test);
        if (device.is_cuda()) torch::cuda::synchronize();
        eval_s += bench::now_s() - t1;
        train_s += t1 - t0;
      }
      train_s /= reps, eval_s /= reps;
      const double rate = static_cast<double>(P) / (train_s + eval_s);
      if (P == ps.front()) base = rate;  // the baseline of the speedup column (P = 1 by default)
      std::printf("%6lld %10.2f %10.2f %14.2f %14.2f %8.1fx %8.1fx %8.1fx %9.1f %8.1f%%\n", static_cast<long long>(P), train_s,
                  eval_s, rate, static_cast<double>(P) / train_s, rate / base, conv_base > 0 ? rate / conv_base : 0.0,
                  peer_base > 0 ? rate / peer_base : 0.0, rate * flops / 1e9, 100.0 * rate * flops / 1e9 / gemm);
      std::fflush(stdout);
    }
    // The training step through autograd against the hand-written one (member_step.h), the same
    // members, alternating epochs; the faster of three of each.
    if (device.is_cpu()) {
      std::vector<zoo::MemberSpec> members;
      for (int64_t i = 0; i < ps.back(); ++i) {
        zoo::MemberSpec m;
        m.id = i, m.seed = i + 1, m.lr = 3e-4;
        members.push_back(m);
      }
      population::PopulationOptions autograd_opt = opt;
      autograd_opt.hand_written_step = false;
      population::Population hand(arch, members, opt, device), reference(arch, members, autograd_opt, device);
      double best_hand = 1e30, best_autograd = 1e30;
      for (int e = 1; e <= 3; ++e) {
        double t0 = bench::now_s();
        reference.train_epoch(task.train, e);
        double t1 = bench::now_s();
        hand.train_epoch(task.train, e);
        double t2 = bench::now_s();
        best_autograd = std::min(best_autograd, t1 - t0), best_hand = std::min(best_hand, t2 - t1);
      }
      std::printf("training epoch at P = %lld: autograd step %.2f s, hand-written step %.2f s: %.2fx\n",
                  static_cast<long long>(ps.back()), best_autograd, best_hand, best_autograd / best_hand);
    }
    // BENCH_PROFILE=PREFIX: one more training epoch and one evaluation of the test split at the
    // largest P under the autograd profiler, as a Chrome trace (summary: bench/profile_summary.py).
    if (const char* prefix = std::getenv("BENCH_PROFILE")) {
      std::vector<zoo::MemberSpec> members;
      for (int64_t i = 0; i < ps.back(); ++i) {
        zoo::MemberSpec m;
        m.id = i, m.seed = i + 1, m.lr = 3e-4;
        members.push_back(m);
      }
      population::Population pop(arch, members, opt, device);
      pop.train_epoch(task.train, 1);
      const std::string file = std::string(prefix) + "." + (spec == cnn_s ? "cnn_s" : "small_cnn_zoo") + ".json";
      double t0 = 0.0, t1 = 0.0, t2 = 0.0;
      {
        torch::autograd::profiler::RecordProfile guard(file);
        t0 = bench::now_s();
        {
          RECORD_USER_SCOPE("phase:train");
          pop.train_epoch(task.train, 2);
        }
        t1 = bench::now_s();
        {
          RECORD_USER_SCOPE("phase:evaluate");
          pop.evaluate(task.test);
        }
        t2 = bench::now_s();
      }
      std::printf("profile of one epoch (%.2f s) and one test evaluation (%.2f s) at P = %lld, under the profiler: %s\n", t1 - t0,
                  t2 - t1, static_cast<long long>(ps.back()), file.c_str());
    }
  }
  return 0;
}
