// The Small CNN Zoo's row layout (BENCHMARKS.md §1): layout.csv, the architecture it describes,
// the index map between its rows (bias first, TensorFlow kernel order) and hyperrep's (PyTorch
// order, weight then bias), the file in which an export records hyperrep's own layer specs, and
// the names of metrics.csv's columns as hyperrep properties and back.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "zoo/architecture.h"

namespace hyperrep::interop {

// One tensor of layout.csv.
struct LayoutEntry {
  std::string varname;  // e.g. sequential/conv2d_1/kernel:0
  int64_t start = 0, end = 0;
  std::vector<int64_t> shape;
};

// Reads layout.csv by column name (varname, start_idx, end_idx, shape); the entries must tile
// [0, cols) and each shape must hold end - start values. DataError naming the file and row.
std::vector<LayoutEntry> read_smallcnnzoo_layout(const std::string& path, int64_t cols);

// The member architecture the layout describes, in the published generator's structure: each
// conv kernel (k, k, in, out) becomes conv(in,out,k,stride=2) and act; after the last one, gap;
// each dense kernel (in, out) linear(in,out), with act between dense layers. Tensors are grouped
// into layers by their name without the last component; a layer without a bias gets nobias.
std::vector<std::string> smallcnnzoo_architecture(const std::vector<LayoutEntry>& layout);

// For every value of a hyperrep row (Architecture layout), its index in the file's row.
std::vector<int64_t> smallcnnzoo_gather_index(const std::vector<LayoutEntry>& layout,
                                              const std::vector<std::string>& architecture,
                                              const std::vector<int64_t>& input_shape);

// The hyperrep property name of a metrics.csv column (test_accuracy -> test_acc,
// config.learning_rate -> lr, config.l2reg -> l2, config.w_init -> init, ...; other config.X -> X).
std::string smallcnnzoo_property_name(const std::string& column);

// The layout.csv entries of an architecture, as Keras names a Sequential's layers
// (sequential/conv2d[_i]/bias:0, .../kernel:0, sequential/dense[_i]/...).
std::vector<LayoutEntry> smallcnnzoo_layout_of(const zoo::Architecture& arch);
// layout.csv's text for these entries (shapes as Python writes tuples: "(16,)", "(3, 3, 1, 16)").
std::string smallcnnzoo_layout_csv(const std::vector<LayoutEntry>& layout);

// The metrics.csv column of a property: the published name where there is one (the inverse of
// smallcnnzoo_property_name), config.X for other properties that map back to X, else its own name.
std::string smallcnnzoo_column_name(const std::string& property);

// The file name, beside layout.csv, in which an export records hyperrep's layer specs (one per
// line) when they differ from what smallcnnzoo_architecture() derives from the layout; the
// importer reads it when present (and checks it against the layout).
inline constexpr const char* kSmallCnnZooArchitectureFile = "hyperrep_architecture.txt";

// That file's text: "input_shape C,H,W", then one layer spec per line.
std::string smallcnnzoo_architecture_file_text(const zoo::Architecture& arch);
// Reads it back: (layer specs, input shape); DataError naming the file when malformed.
std::pair<std::vector<std::string>, std::vector<int64_t>> read_smallcnnzoo_architecture_file(const std::string& path);

}  // namespace hyperrep::interop
