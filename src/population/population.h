// Population training: P zoo members with the same structure trained in ONE batched
// forward/backward (grouped convolutions, batched matmuls), each with its own initialisation,
// data order, dropout masks, optimizer state, lr and weight decay. A member's result does not
// depend on which other members share its population.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "population/member_step.h"
#include "store/store.h"
#include "tasks/image_data.h"
#include "zoo/architecture.h"
#include "zoo/zoo_spec.h"

namespace hyperrep::population {

struct PopulationOptions {
  int64_t batch_size = 10;
  int64_t epochs = 1;
  std::vector<int64_t> keep_epochs = {0, 1};  // ascending; 0 = at initialisation
  double momentum = 0.9;                      // SGD only
  double rmsprop_alpha = 0.99;                // RMSProp only
  double bias_init = 0.01;
  // Activation floats one evaluation chunk may hold over the whole population (bounds memory).
  int64_t eval_budget_floats = int64_t{1} << 22;
  // Members that run one forward/backward together; a population runs chunk after chunk. Small
  // chunks keep activations in cache, large ones amortise per-op overhead. Results do not depend on it.
  // 0 = as many members as keep one training step's largest activation within
  // chunk_budget_floats (CNN-s at batch 10: 8 members, with the hand-written step 7% faster than 16
  // on one thread and 16-20% on two; the Small CNN Zoo network: 13 members, 9-19% faster than 27;
  // the 100-weight Tetris MLP: all of them).
  int64_t chunk_members = 0;
  int64_t chunk_budget_floats = int64_t{45} << 13;  // 8 x 10 x 4608 floats (CNN-s conv1 output)
  // CPU: each chunk's training step through the hand-written forward and backward of
  // member_step.h; false: through autograd (the reference the tests compare it with; CUDA always).
  bool hand_written_step = true;
};

// Options of a [zoo] section.
PopulationOptions population_options(const ZooConfig& zoo);

// Per-member loss (mean cross-entropy) and accuracy (fraction) on one split.
struct SplitMetrics {
  std::vector<double> loss, acc;
};

class Population {
 public:
  // Every member must share structure_key(); weights start at init_member() of each member.
  Population(const zoo::Architecture& arch, std::vector<zoo::MemberSpec> members, PopulationOptions opt, torch::Device device);

  int64_t size() const { return static_cast<int64_t>(members_.size()); }
  const std::vector<zoo::MemberSpec>& members() const { return members_; }
  // Flat weights of every member [P, L] on the device (row p = member p in Architecture layout).
  torch::Tensor weights() const { return flat_.detach(); }

  // One epoch (1-based) over train: per-member permutation, mini-batches of opt.batch_size.
  void train_epoch(const tasks::ImageSplit& train, int64_t epoch);
  SplitMetrics evaluate(const tasks::ImageSplit& split);

 private:
  enum class Layout { kShared, kSpatial, kFlat };  // [N,...] for all | [P, C, b, H, W] | [P, b, F]
  // Members p0 .. p0 + weights.size(0) - 1 with their flat weights [np, L].
  torch::Tensor forward(const torch::Tensor& weights, int64_t p0, torch::Tensor h, Layout layout, bool train, int64_t epoch,
                        int64_t step);
  // The scaled keep-mask of dropout layer `layer` for an activation of these sizes in this layout.
  torch::Tensor dropout_mask_of(c10::IntArrayRef sizes, Layout layout, int64_t p0, int64_t P, int64_t epoch, int64_t step,
                                int64_t layer);
  // One optimizer step of the members in `active` (every member when it is empty): each takes
  // exactly the step it would take trained alone (its own step count and bias corrections).
  void optimizer_step(const std::vector<int64_t>& active);
  // The optimizer's arithmetic on rows of the parameters and their state (all rows, or one
  // member's) with one step count.
  void optimizer_rows(int64_t p0, int64_t rows, int64_t count);
  // Members per chunk and number of chunks (see PopulationOptions::chunk_members).
  std::pair<int64_t, int64_t> member_chunks() const;
  // Whether chunks run on hand-written member steps (the CPU with hand_written_step), which are
  // then made for `chunks` chunks.
  bool use_member_steps(int64_t chunks);

  zoo::Architecture arch_;
  std::vector<zoo::MemberSpec> members_;
  PopulationOptions opt_;
  torch::Device device_;
  bool flat_input_ = false;  // the first layer flattens: gather batches as [P, b, F] directly
  torch::Tensor flat_;       // [P, L] leaf, requires grad
  torch::Tensor lr_, wd_;    // [P, 1]
  bool any_wd_ = false;
  ZooOptimizer optimizer_ = ZooOptimizer::kAdam;         // shared by the population (part of its structure key)
  Activation activation_ = Activation::kTanh;            // shared by the population (part of its structure key)
  torch::Tensor exp_avg_, exp_avg_sq_, denom_, update_;  // optimizer state and work buffers
  std::vector<int64_t> steps_;                           // optimizer steps taken, per member
  torch::Tensor dropout_base_;                           // [P] int64
  torch::Tensor dropout_p_;                              // [P] float64 on the device: each member's rate
  bool any_dropout_ = false;
  std::vector<torch::Tensor> subsets_;  // per member: its training images (member_subset), or undefined for all
  std::vector<std::unique_ptr<MemberStep>> member_steps_;  // per chunk, with its buffers (hand_written_step)
};

// Called after every trained epoch with the number of members that advanced by one epoch.
using EpochCallback = std::function<void(int64_t member_epochs)>;

// Trains the members together for opt.epochs; task must already be on device. Returns one
// record per member (input order) with the weights and properties of every kept epoch.
std::vector<store::MemberRecord> train_population(const zoo::Architecture& arch, const std::vector<zoo::MemberSpec>& members,
                                                  const PopulationOptions& opt, const tasks::TaskData& task, torch::Device device,
                                                  const EpochCallback& on_epoch = {});

// Property columns of generated zoos (MemberRecord::numeric / ::categorical keys).
const std::vector<std::string>& numeric_property_names();
const std::vector<std::string>& categorical_property_names();

}  // namespace hyperrep::population
