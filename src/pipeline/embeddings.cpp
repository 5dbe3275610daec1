#include "pipeline/embeddings.h"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <vector>

#include "common/csv.h"
#include "common/error.h"
#include "common/format.h"

namespace hyperrep::pipeline {
namespace {

// The export must not depend on the world size, but a GEMM's result for a row can change with
// the rows batched beside it (different blocking), and each rank holds other rows; one row per
// forward makes every embedding independent of the partition.
torch::Tensor embed_row_by_row(train::Trainer& trainer, const std::string& split) {
  const auto& w = trainer.data().split(split).weights;
  std::vector<torch::Tensor> rows;
  for (int64_t i = 0; i < w.size(0); ++i) rows.push_back(trainer.embed_weights(w.narrow(0, i, 1)));
  if (rows.empty()) return trainer.embed_weights(w).to(torch::kFloat32);
  return torch::cat(rows, 0).to(torch::kFloat32).contiguous();
}

// member and epoch lead every row; a zoo that also lists them as properties would repeat them.
bool is_key_column(const std::string& name) { return name == "member" || name == "epoch"; }

// One property row per local row of a split, each ending with '\n'.
std::string property_lines(const std::string& split, const data::ZooDataset& rows) {
  std::string out;
  const auto num = rows.numeric().to(torch::kFloat64).contiguous();
  const auto acc = num.accessor<double, 2>();
  for (int64_t i = 0; i < rows.size(); ++i) {
    out += split + "," + std::to_string(rows.member_ids()[i]) + "," + std::to_string(rows.epochs()[i]);
    for (size_t c = 0; c < rows.numeric_names().size(); ++c)
      if (!is_key_column(rows.numeric_names()[c])) out += "," + format_double(acc[i][c]);
    for (const auto& name : rows.categorical_names()) out += "," + csv_field(rows.categorical(name)[i]);
    out += "\n";
  }
  return out;
}

}  // namespace

EmbeddingExport export_embeddings(train::Trainer& trainer, dist::Communicator& comm) {
  const auto& first = *trainer.data().split("train").rows;
  EmbeddingExport out;
  out.csv = "split,member,epoch";
  for (const auto& n : first.numeric_names()) {
    if (!is_key_column(n)) out.csv += "," + csv_field(n);
  }
  for (const auto& n : first.categorical_names()) out.csv += "," + csv_field(n);
  out.csv += "\n";

  std::vector<torch::Tensor> ordered;
  for (const char* split : {"train", "val", "test"}) {
    const auto& rows = *trainer.data().split(split).rows;
    // Gathered in rank order, so rank k's embeddings, keys and lines line up; then sorted.
    const auto z = comm.all_gather_varying(embed_row_by_row(trainer, split));
    const auto local_keys =
        torch::stack({torch::tensor(rows.member_ids(), torch::kInt64), torch::tensor(rows.epochs(), torch::kInt64)}, 1);
    const auto keys = comm.all_gather_varying(local_keys.reshape({-1, 2}).contiguous());
    std::vector<std::string> lines;
    for (const auto& part : comm.all_gather_bytes(property_lines(split, rows))) {
      std::istringstream in(part);
      for (std::string l; std::getline(in, l);) lines.push_back(l);
    }
    HYPERREP_CHECK(static_cast<int64_t>(lines.size()) == z.size(0) && keys.size(0) == z.size(0), InternalError,
                   "embed: ", lines.size(), " property rows and ", keys.size(0), " keys for ", z.size(0), " embeddings");
    const auto k = keys.accessor<int64_t, 2>();
    std::vector<int64_t> order(lines.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return std::make_pair(k[a][0], k[a][1]) < std::make_pair(k[b][0], k[b][1]); });
    for (auto i : order) out.csv += lines[static_cast<size_t>(i)] + "\n";
    ordered.push_back(z.index_select(0, torch::tensor(order, torch::kInt64)));
  }
  out.z = torch::cat(ordered, 0);
  return out;
}

}  // namespace hyperrep::pipeline
