// Cost of data-parallel gradient synchronisation in the autoencoder's training step (forward,
// reconstruction loss, backward, synchronisation, Adam). At one rank: step without any
// synchronizer vs the same step with the bucket copy + MPI all_reduce path forced (a world-1
// GradientSynchronizer is a no-op). At several ranks: bucketed+overlapped, bucketed after
// backward, one flat all_reduce, one all_reduce per parameter. Variants are interleaved step by
// step and reported as medians of the slowest rank's step time. Run under mpirun.
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>

#ifdef HYPERREP_WITH_MPI

#include <cstdlib>
#include <string>
#include <thread>
#include <unordered_set>

#include "bench/bench_common.h"
#include "distributed/gradient_synchronizer.h"
#include "distributed/mpi_communicator.h"
#include "distributed/mpi_runtime.h"
#include "model/autoencoder.h"
#include "model/losses.h"

using namespace hyperrep;

namespace {

struct Options {
  std::string arch = "tetris";
  int64_t batch = 64;  // per rank
  int64_t d_model = 256, d_ff = 512;
  int reps = 11, warmup = 2;
  double bucket_mb = 1.0;
  int threads = 0;
};

// The world-1 stand-in for a real synchronisation: the buckets the synchronizer would form
// (reverse registration order, bucket_mb each), copied in, all-reduced through MPI (a real
// MPI_Allreduce call on a communicator of one rank), and copied back into the gradients.
class ForcedBuckets {
 public:
  ForcedBuckets(dist::Communicator& comm, const std::vector<torch::Tensor>& params, double bucket_mb) : comm_(comm) {
    const int64_t cap = static_cast<int64_t>(bucket_mb * 1024 * 1024);
    int64_t bytes = cap;
    for (size_t k = params.size(); k-- > 0;) {
      const int64_t b = params[k].numel() * params[k].element_size();
      if (bytes + b > cap && !groups_.empty() && !groups_.back().empty()) bytes = cap;
      if (bytes >= cap) {
        groups_.emplace_back();
        bytes = 0;
      }
      groups_.back().push_back(params[k]);
      bytes += b;
    }
    for (auto& g : groups_) {
      int64_t n = 0;
      for (auto& p : g) n += p.numel();
      flats_.push_back(torch::empty({n}));
    }
  }
  size_t size() const { return groups_.size(); }
  void run() {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < groups_.size(); ++i) {
      int64_t off = 0;
      for (auto& p : groups_[i]) {
        flats_[i].narrow(0, off, p.numel()).copy_(p.grad().reshape(-1));
        off += p.numel();
      }
      comm_.all_reduce(flats_[i], dist::ReduceOp::kAvg);
      off = 0;
      for (auto& p : groups_[i]) {
        p.mutable_grad().copy_(flats_[i].narrow(0, off, p.numel()).view(p.sizes()));
        off += p.numel();
      }
    }
  }

 private:
  dist::Communicator& comm_;
  std::vector<std::vector<torch::Tensor>> groups_;
  std::vector<torch::Tensor> flats_;
};

struct Variant {
  std::string name;
  std::function<void()> before, after;  // around backward
  std::vector<double> times;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--arch") o.arch = next();
    else if (k == "--batch") o.batch = std::stoll(next());
    else if (k == "--d-model") o.d_model = std::stoll(next());
    else if (k == "--d-ff") o.d_ff = std::stoll(next());
    else if (k == "--reps") o.reps = std::stoi(next());
    else if (k == "--warmup") o.warmup = std::stoi(next());
    else if (k == "--bucket-mb") o.bucket_mb = std::stod(next());
    else if (k == "--threads") o.threads = std::stoi(next());
    else {
      std::fprintf(stderr,
                   "usage: mpirun -np N bench_sync [--arch tetris|cnn] [--batch 64 (per rank)] [--d-model 256] "
                   "[--d-ff 512] [--reps 11] [--warmup 2] [--bucket-mb 1] [--threads T]\n");
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  dist::MpiRuntime runtime(&argc, &argv);
  const Options o = parse(argc, argv);
  if (!runtime.active()) {
    std::fprintf(stderr, "bench_sync: run it under mpirun (MPI is not initialised)\n");
    return 2;
  }
  dist::MpiCommunicator comm(runtime);
  comm.set_check_agreement(false);  // as in training: shapes are fixed by construction
  const int world = comm.world_size();
  const bool root = comm.rank() == 0;
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(o.threads > 0 ? o.threads : std::max(1, hw / runtime.local_size()));

  const double gflops = bench::gemm_gflops(512);
  const std::vector<std::string> tetris = {"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"};
  const std::vector<std::string> cnn_s = {"conv(1,8,5)", "maxpool(2)", "act",     "conv(8,6,5)",   "maxpool(2)", "act",
                                          "conv(6,4,2)", "act",        "flatten", "linear(36,20)", "act",        "linear(20,10)"};
  const bool is_cnn = o.arch == "cnn";
  auto arch =
      zoo::Architecture::parse(is_cnn ? cnn_s : tetris, is_cnn ? std::vector<int64_t>{1, 28, 28} : std::vector<int64_t>{1, 4, 4});
  model::AutoencoderOptions ao;
  ao.d_model = o.d_model, ao.d_ff = o.d_ff, ao.heads = 4, ao.blocks = 2, ao.latent = 50;
  ao.attention = model::resolve_attention("auto");
  torch::manual_seed(0);
  auto ae = std::make_shared<model::NeuronAutoencoder>(arch, ao);
  ae->train();
  // The head takes no part in the reconstruction loss; synchronise what the step trains.
  std::vector<torch::Tensor> params;
  for (auto& p : ae->parameters()) params.push_back(p);
  std::vector<torch::Tensor> trained;
  {
    std::unordered_set<const void*> head;
    for (auto& p : ae->head->parameters()) head.insert(p.unsafeGetTensorImpl());
    for (auto& p : params)
      if (!head.count(p.unsafeGetTensorImpl())) trained.push_back(p);
  }
  torch::optim::Adam adam(trained, torch::optim::AdamOptions(1e-4));
  int64_t n_trained = 0;
  for (auto& p : trained) n_trained += p.numel();

  torch::manual_seed(1 + comm.rank());
  auto w = 0.1 * torch::randn({o.batch, arch.num_params()});
  auto layer_var = torch::full({static_cast<int64_t>(arch.param_layers().size())}, 0.01);
  const KeyedDraws draws(comm.rank(), 0, torch::arange(w.size(0)));

  auto step = [&](const std::function<void()>& before, const std::function<void()>& after) {
    adam.zero_grad();
    if (before) before();
    auto out = ae->forward_view(w, draws);
    auto loss = model::reconstruction_loss(out.recon, out.target, out.mask, out.layer, layer_var, 1e-4);
    loss.backward();
    if (after) after();
    adam.step();
  };

  auto make_sync = [&](dist::SyncStrategy s, bool overlap) {
    dist::SyncOptions so;
    so.bucket_mb = o.bucket_mb, so.overlap = overlap, so.strategy = s;
    return std::make_unique<dist::GradientSynchronizer>(comm, trained, so);
  };
  std::vector<Variant> variants;
  std::vector<std::unique_ptr<dist::GradientSynchronizer>> syncs;
  std::unique_ptr<ForcedBuckets> forced;
  size_t n_buckets = 0;
  if (world == 1) {
    forced = std::make_unique<ForcedBuckets>(comm, trained, o.bucket_mb);
    n_buckets = forced->size();
    variants.push_back({"no synchronizer", nullptr, nullptr, {}});
    variants.push_back({"buckets + MPI_Allreduce", nullptr, [&] { forced->run(); }, {}});
  } else {
    // Baseline first: ratios are against the flat all_reduce after backward.
    const std::pair<const char*, std::pair<dist::SyncStrategy, bool>> kinds[] = {
        {"flat after backward", {dist::SyncStrategy::kFlat, false}},
        {"per parameter", {dist::SyncStrategy::kPerParam, false}},
        {"bucketed after backward", {dist::SyncStrategy::kBucketed, false}},
        {"bucketed + overlap", {dist::SyncStrategy::kBucketed, true}},
    };
    for (auto& [name, k] : kinds) {
      syncs.push_back(make_sync(k.first, k.second));
      auto* s = syncs.back().get();
      if (k.first == dist::SyncStrategy::kBucketed) n_buckets = s->num_buckets();
      variants.push_back({name, [s] { s->prepare(); }, [s] { s->finish(); }, {}});
    }
    variants.push_back({"no sync (reference)", nullptr, nullptr, {}});
    syncs.front()->broadcast_parameters(0);
  }

  if (root) {
    std::printf("bench_sync: %d rank(s), %d intra-op thread(s) each, fp32 GEMM 512^3: %.1f GFLOP/s\n", world,
                torch::get_num_threads(), gflops);
    std::printf(
        "model: NeuronAutoencoder %s, d_model %lld, d_ff %lld; %zu trained tensors, %lld values (%.2f MiB); "
        "batch %lld per rank; bucket_mb %.2f -> %zu buckets; %d reps after %d warm-up\n",
        is_cnn ? "CNN-s (MNIST-SEED)" : "Tetris MLP", static_cast<long long>(o.d_model), static_cast<long long>(o.d_ff),
        trained.size(), static_cast<long long>(n_trained), n_trained * 4.0 / (1 << 20), static_cast<long long>(o.batch),
        o.bucket_mb, n_buckets, o.reps, o.warmup);
    std::fflush(stdout);
  }

  // Interleaved: every repetition times each variant once; a step's time is the slowest rank's.
  for (int r = -o.warmup; r < o.reps; ++r) {
    for (auto& v : variants) {
      comm.barrier();
      const double t0 = bench::now_s();
      step(v.before, v.after);
      const double dt = comm.all_reduce_scalar(bench::now_s() - t0, dist::ReduceOp::kMax);
      if (r >= 0) v.times.push_back(dt);
    }
  }

  if (root) {
    auto median = [](std::vector<double> t) {
      std::sort(t.begin(), t.end());
      return t[t.size() / 2];
    };
    const double base = median(variants.front().times);
    std::printf("\n%-26s %12s %12s %10s\n", "variant", "median ms", "min ms", world == 1 ? "overhead" : "vs flat");
    for (auto& v : variants) {
      const double m = median(v.times);
      const double mn = *std::min_element(v.times.begin(), v.times.end());
      if (world == 1) std::printf("%-26s %12.2f %12.2f %+9.1f%%\n", v.name.c_str(), 1e3 * m, 1e3 * mn, 100.0 * (m / base - 1.0));
      else std::printf("%-26s %12.2f %12.2f %9.3fx\n", v.name.c_str(), 1e3 * m, 1e3 * mn, m / base);
    }
    if (world == 1) std::printf("(overhead goal <= 3%%; a world-1 GradientSynchronizer itself returns at once)\n");
    else std::printf("(ratio < 1 is faster than one flat all_reduce after backward)\n");
  }
  return 0;
}

#else  // without MPI there is nothing to synchronise over
int main() {
  std::fprintf(stderr, "bench_sync: this build has no MPI (HYPERREP_WITH_MPI=OFF)\n");
  return 2;
}
#endif
