// The hand-written training step of population members on the CPU: the forward and backward of
// every layer kind of the zoo grammar without autograd, on buffers kept from step to step. It
// drops what the autograd step pays besides the kernels they share: graph nodes, the gradient of
// each weight narrow (a zeroed copy of the whole parameter row per block), a fresh tensor per
// activation gradient, and one torch op per member for the linear layers' batched products. Here
// a chunk's activations, gradients and padded workspaces are allocated once, the linear layers
// are plain loops, and the loss gradient is written directly. Measured against the autograd step
// in one run (bench_population): CNN-s 0.95-1.14x over fifteen runs (median 1.03), the Small CNN
// Zoo network 1.02-1.12x; the kernels are most of the time either way. A member's arithmetic does
// not depend on the members beside it, the chunk size or the thread count.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "common/enums.h"
#include "zoo/architecture.h"

namespace hyperrep::population {

// The scaled keep-mask of dropout layer `layer` (its index in the layer list) for an activation
// of these sizes, [np, C, r, H, W] or [np, r, F].
using DropoutMaskFn = std::function<torch::Tensor(c10::IntArrayRef sizes, int64_t layer)>;

class MemberStep {
 public:
  MemberStep(const zoo::Architecture& arch, Activation activation);

  // The gradients of the sum over np members of each member's mean cross-entropy over its r
  // images. x: [np, C, r, H, W], or [np, r, F] when the first layer flattens; labels: [np * r]
  // int64, member-major; weights: [np, L] rows of the population's flat parameters (a row
  // stride is fine); grad: [np, L], every entry overwritten. Float32 on the CPU. dropout: the
  // masks of the dropout layers, or null when no member drops out.
  void gradients(const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor& weights, const torch::Tensor& grad,
                 const DropoutMaskFn& dropout);

 private:
  struct State {
    torch::Tensor out;     // the layer's output (flatten of a flat batch, no dropout: the input itself)
    torch::Tensor own;     // flatten, dropout: the storage of an output that is not the input
    torch::Tensor gin;     // the gradient at its input
    torch::Tensor w, b;    // conv: weights [np, out, fan]; linear: transposed [np, in, out]; bias [np, out]
    torch::Tensor w_rows;  // linear: weights as stored, [np, out, in]
    torch::Tensor dw, db;  // weight and bias gradients (linear: dw transposed, [np, in, out])
    torch::Tensor aux;     // max-pool: argmax; dropout: mask; other activations: their input as an autograd leaf
    torch::Tensor padded;  // conv: the zero-bordered output gradient of the direct kernels' input gradient
  };

  // Layer i's output from its input h into state_[i].out, keeping what the backward needs.
  void forward_layer(size_t i, const torch::Tensor& h, const torch::Tensor& weights, const DropoutMaskFn& dropout);
  // The gradient at layer i's input from the one at its output; writes its parameter gradients
  // into grad. Returns an undefined tensor when the input gradient is not needed.
  torch::Tensor backward_layer(size_t i, const torch::Tensor& h, const torch::Tensor& g, const torch::Tensor& grad);

  zoo::Architecture arch_;
  Activation activation_;
  size_t first_param_ = 0;  // layers before the first conv/linear layer need no backward
  std::vector<State> state_;
  torch::Tensor dlogits_;
};

}  // namespace hyperrep::population
