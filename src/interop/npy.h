// NumPy's .npy format (version 1.0) for the matrices hyperrep hands to Python: embeddings.
#pragma once

#include <torch/torch.h>

#include <string>

namespace hyperrep::interop {

// Writes a matrix as float32, C order, atomically; numpy.load reads it.
void write_npy(const std::string& path, const torch::Tensor& matrix);

}  // namespace hyperrep::interop
