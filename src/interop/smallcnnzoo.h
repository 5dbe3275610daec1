// The public Small CNN Zoo files (Unterthiner et al. 2020; BENCHMARKS.md §1): weights.npy (one
// row per checkpoint, each layer's bias then its TensorFlow-order kernel), layout.csv (where each
// tensor lies in a row) and metrics.csv[.gz] (one row per weights row: run id, step, metrics,
// config.* columns). Imported into a hyperrep zoo: members are the runs (modeldir), checkpoints
// their steps, weights converted to hyperrep's layout (PyTorch order, weight then bias).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "interop/smallcnnzoo_layout.h"

namespace hyperrep::interop {

struct SmallCnnZooImportOptions {
  std::vector<int64_t> input_shape;  // empty: from the config.dataset column (28x28 or 32x32, one channel)
  int64_t members_per_write = 256;   // members written (and synced) together
};

struct SmallCnnZooImportResult {
  int64_t members = 0, rows = 0;  // imported
  int64_t dropped_rows = 0;       // rows with non-finite weights or metrics
  int64_t dropped_members = 0;    // runs left without any row
  std::vector<std::string> architecture;
};

// Imports DIR (weights.npy, layout.csv, metrics.csv.gz or metrics.csv) into a new zoo at out.
// Members keep the order in which their runs first appear in metrics.csv. Rows with non-finite
// weights or metrics are dropped and counted; bad files are DataErrors naming file, row or
// variable. Memory stays bounded: weights are read through a memory map, member batch by batch.
SmallCnnZooImportResult import_smallcnnzoo(const std::string& dir, const std::string& out,
                                           const SmallCnnZooImportOptions& options = {});

struct SmallCnnZooExportResult {
  int64_t members = 0, rows = 0;
};

// Writes the zoo at zoo_dir into out_dir in the Small CNN Zoo layout, so that the field's loaders
// read it: weights.npy (float32, rows member by member, epochs ascending; each layer's bias first,
// then its kernel in TensorFlow order), layout.csv (sequential/conv2d[_i]/..., sequential/dense[_i]/...),
// metrics.csv.gz (the published column names where a property has one: test_accuracy, ...,
// config.learning_rate, config.l2reg, ...; other properties under their own names; modeldir is
// the member's `run` property or member_<id>). Importing the export gives back the same content
// hash, unless rows have non-finite metrics (the importer drops those). Streams row by row.
SmallCnnZooExportResult export_smallcnnzoo(const std::string& zoo_dir, const std::string& out_dir);

}  // namespace hyperrep::interop
