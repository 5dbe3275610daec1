// Task data the zoo members learn: IDX files (MNIST format, gzipped or raw) and the procedural
// Tetris set, split into train/val/test image tensors [N, C, H, W] with labels [N].
#pragma once

#include <torch/torch.h>

#include <string>

#include "common/config_sections.h"
#include "common/enums.h"

namespace hyperrep::tasks {

struct ImageSplit {
  torch::Tensor x;  // float32 [N, C, H, W]
  torch::Tensor y;  // int64 [N]
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
};

struct TaskData {
  std::string name;
  ImageSplit train, val, test;
  std::vector<int64_t> input_shape;  // {C, H, W}
  int64_t num_classes = 0;
  // Moves every split to a device (the data then lives there once, not per step).
  void to(const torch::Device& device);
};

// Reads one IDX file (gzip or raw, detected by content) into a uint8 tensor with its dims.
// Checks magic, element type, dims and the exact file size; throws DataError naming the file.
torch::Tensor read_idx(const std::string& path);

// Loads train-images/-labels and t10k-images/-labels from dir (".gz" or raw names), splits
// val_size training images off by a seeded shuffle, and normalises with the train split's
// mean and std.
TaskData load_idx_task(const std::string& dir, int64_t train_size, int64_t val_size, int64_t test_size, int64_t split_seed,
                       const std::string& name = "idx");

// The procedural Tetris task: 4x4 images of four tetromino classes (I, O, T, L) in every
// rotation and translation that fits, plus Gaussian pixel noise; seeded.
TaskData make_tetris_task(int64_t train_size, int64_t val_size, int64_t test_size, double noise, int64_t seed);

// Default directory of Fashion-MNIST from the Debian package dataset-fashion-mnist.
extern const char* const kFashionMnistDir;

// The task of a [zoo] section (tetris, fashion_mnist, idx).
TaskData load_task(const ZooConfig& zoo);

// Per-sample input shape {C, H, W} of a task, known without loading it (tetris 1,4,4;
// fashion_mnist and idx 1,28,28; an IDX directory of other images gives its own at load time).
std::vector<int64_t> task_input_shape(Task task);

}  // namespace hyperrep::tasks
