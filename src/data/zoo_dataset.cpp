#include "data/zoo_dataset.h"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "common/csv.h"
#include "common/error.h"
#include "common/format.h"
#include "common/fs.h"
#include "zoo/architecture.h"

namespace hyperrep::data {

MemberSplit split_members(int64_t n, const std::vector<double>& f, int64_t seed) {
  HYPERREP_CHECK(n >= 0, DataError, "split of a negative member count ", n);
  HYPERREP_CHECK(f.size() == 3 && f[0] >= 0 && f[1] >= 0 && f[2] >= 0 && std::fabs(f[0] + f[1] + f[2] - 1.0) < 1e-6, ConfigError,
                 "data.split needs three non-negative fractions summing to 1");
  std::vector<int64_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), 0);
  // mt19937_64's sequence is fixed by the standard; std::shuffle and the distributions are not.
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  for (int64_t i = n - 1; i > 0; --i) std::swap(ids[i], ids[rng() % static_cast<uint64_t>(i + 1)]);
  const auto n_train = static_cast<int64_t>(std::llround(f[0] * n));
  const auto n_train_val = std::min<int64_t>(n, static_cast<int64_t>(std::llround((f[0] + f[1]) * n)));
  MemberSplit s;
  s.train.assign(ids.begin(), ids.begin() + n_train);
  s.val.assign(ids.begin() + n_train, ids.begin() + n_train_val);
  s.test.assign(ids.begin() + n_train_val, ids.end());
  for (auto* v : {&s.train, &s.val, &s.test}) std::sort(v->begin(), v->end());
  return s;
}

MemberSplit read_split_file(const std::string& path, const store::ZooReader& reader) {
  const std::string text = read_file(path, int64_t{1} << 30);
  std::vector<std::string> lines;
  for (size_t a = 0; a <= text.size();) {
    size_t b = text.find('\n', a);
    if (b == std::string::npos) b = text.size();
    std::string line = text.substr(a, b - a);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
    a = b + 1;
  }
  HYPERREP_CHECK(!lines.empty() && !lines[0].empty(), DataError, "split file '", path,
                 "' is empty (expected a header such as member,split)");
  auto header = parse_csv_line(lines[0]);
  for (auto& h : header) h = trim(h, " \t");
  int member_col = -1, run_col = -1, split_col = -1;
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "member") member_col = static_cast<int>(i);
    if (header[i] == "run") run_col = static_cast<int>(i);
    if (header[i] == "split") split_col = static_cast<int>(i);
  }
  HYPERREP_CHECK(split_col >= 0 && (member_col >= 0) != (run_col >= 0), DataError, "split file '", path,
                 "': the header needs a split column and one of member or run (got '", lines[0], "')");
  std::map<std::string, int64_t> by_run;
  if (run_col >= 0) {
    const auto& props = reader.properties();
    const int col = props.categorical_column("run");
    HYPERREP_CHECK(col >= 0, DataError, "split file '", path, "' names runs, but the zoo has no run property (use member ids)");
    for (int64_t r = 0; r < props.rows(); ++r)
      by_run.emplace(props.categorical[static_cast<size_t>(r)][static_cast<size_t>(col)], props.member[static_cast<size_t>(r)]);
  }
  MemberSplit s;
  std::vector<int> seen(static_cast<size_t>(reader.num_members()), 0);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = "split file '" + path + "' line " + std::to_string(i + 1);
    auto cells = parse_csv_line(lines[i]);
    for (auto& c : cells) c = trim(c, " \t");
    HYPERREP_CHECK(cells.size() == header.size(), DataError, where, ": ", cells.size(), " fields, the header has ",
                   header.size());
    int64_t m = -1;
    if (member_col >= 0) {
      const std::string& v = cells[static_cast<size_t>(member_col)];
      const bool digits = !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string::npos;
      HYPERREP_CHECK(digits, DataError, where, ": member '", v, "' is not a member id");
      m = std::stoll(v);
      HYPERREP_CHECK(m < reader.num_members(), DataError, where, ": member ", m, " is not in the zoo (", reader.num_members(),
                     " members)");
    } else {
      auto it = by_run.find(cells[static_cast<size_t>(run_col)]);
      HYPERREP_CHECK(it != by_run.end(), DataError, where, ": run '", cells[static_cast<size_t>(run_col)], "' is not in the zoo");
      m = it->second;
    }
    HYPERREP_CHECK(seen[static_cast<size_t>(m)]++ == 0, DataError, where, ": member ", m, " is listed twice");
    const std::string& split = cells[static_cast<size_t>(split_col)];
    if (split == "train") s.train.push_back(m);
    else if (split == "val") s.val.push_back(m);
    else if (split == "test") s.test.push_back(m);
    else HYPERREP_THROW(DataError, where, ": split '", split, "' is not train, val or test");
  }
  for (auto* v : {&s.train, &s.val, &s.test}) std::sort(v->begin(), v->end());
  const int64_t listed = static_cast<int64_t>(s.train.size() + s.val.size() + s.test.size());
  HYPERREP_CHECK(!s.train.empty(), DataError, "split file '", path, "' puts no member in train");
  if (listed < reader.num_members())
    spdlog::info("split file {}: {} of {} members listed (train {}, val {}, test {}); the others are left out", path, listed,
                 reader.num_members(), s.train.size(), s.val.size(), s.test.size());
  return s;
}

MemberSplit member_split(const DataConfig& data, const store::ZooReader& reader) {
  if (!data.split_file.empty()) return read_split_file(data.split_file, reader);
  return split_members(reader.num_members(), data.split, data.split_seed);
}

ZooFilter ZooFilter::from_config(const DataConfig& data) { return ZooFilter{data.max_abs_weight, data.epochs}; }

ZooDataset::ZooDataset(const store::ZooReader& reader, std::vector<int64_t> members, const ZooFilter& filter)
    : members_(std::move(members)) {
  std::sort(members_.begin(), members_.end());
  HYPERREP_CHECK(std::adjacent_find(members_.begin(), members_.end()) == members_.end(), DataError,
                 "zoo dataset: a member is requested twice");
  const store::PropertyTable& props = reader.properties();
  const std::set<int64_t> wanted_epochs(filter.epochs.begin(), filter.epochs.end());
  numeric_names_ = reader.header().numeric_properties;
  if (std::find(numeric_names_.begin(), numeric_names_.end(), "epoch") == numeric_names_.end()) numeric_names_.push_back("epoch");
  categorical_names_ = props.categorical_names;
  std::vector<int> source_col;  // column of props.numeric per output column; -1 epoch, -2 member
  for (const auto& name : numeric_names_) {
    source_col.push_back(name == "epoch" ? -1 : name == "member" ? -2 : props.numeric_column(name));
  }

  std::vector<torch::Tensor> kept;
  std::vector<double> numeric;
  for (int64_t m : members_) {
    const torch::Tensor view = reader.weights_view(m);  // touches only m's shard
    const auto& epochs = reader.member(m).epochs;
    const torch::Tensor finite = torch::isfinite(view).all(1);
    const torch::Tensor max_abs = torch::nan_to_num(view.abs(), 0.0, 0.0, 0.0).amax(1);
    const auto finite_a = finite.accessor<bool, 1>();
    const auto max_abs_a = max_abs.accessor<float, 1>();
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < view.size(0); ++r) {
      const int64_t epoch = epochs[static_cast<size_t>(r)];
      if (!wanted_epochs.empty() && !wanted_epochs.count(epoch)) continue;
      if (!finite_a[r]) {
        ++dropped_nonfinite_;
        continue;
      }
      if (filter.max_abs_weight > 0 && max_abs_a[r] > filter.max_abs_weight) {
        ++dropped_large_;
        continue;
      }
      rows.push_back(r);
      const int64_t g = reader.global_row(m) + r;
      for (size_t c = 0; c < source_col.size(); ++c) {
        const int col = source_col[c];
        numeric.push_back(col == -1 ? double(epoch) : col == -2 ? double(m) : props.numeric[g][col]);
      }
      for (size_t c = 0; c < categorical_names_.size(); ++c)
        categorical_[categorical_names_[c]].push_back(props.categorical[g][c]);
      member_.push_back(m);
      epoch_.push_back(epoch);
    }
    if (!rows.empty()) kept.push_back(view.index_select(0, torch::tensor(rows, torch::kInt64)));
  }
  weights_ = kept.empty() ? torch::empty({0, reader.num_params()}) : torch::cat(kept);
  const auto N = static_cast<int64_t>(member_.size()), K = static_cast<int64_t>(numeric_names_.size());
  numeric_ = torch::from_blob(numeric.data(), {N, K}, torch::kFloat64).clone();
  for (const auto& c : categorical_names_) categorical_[c];  // present even when N == 0
  if (dropped_nonfinite_ + dropped_large_ > 0) {
    spdlog::info("zoo dataset: dropped {} checkpoints with non-finite weights and {} with |w| > {}", dropped_nonfinite_,
                 dropped_large_, filter.max_abs_weight);
  }
}

int ZooDataset::numeric_column(const std::string& name) const {
  auto it = std::find(numeric_names_.begin(), numeric_names_.end(), name);
  return it == numeric_names_.end() ? -1 : static_cast<int>(it - numeric_names_.begin());
}

const std::vector<std::string>& ZooDataset::categorical(const std::string& name) const {
  auto it = categorical_.find(name);
  HYPERREP_CHECK(it != categorical_.end(), DataError, "zoo dataset has no categorical property '", name, "'");
  return it->second;
}

std::vector<int64_t> block_sizes_of(const store::ZooHeader& header) {
  const auto arch = zoo::Architecture::parse(header.architecture, header.input_shape);
  HYPERREP_CHECK(arch.num_params() == header.num_params, DataError, "zoo header: architecture has ", arch.num_params(),
                 " parameters, the header says ", header.num_params);
  return arch.block_sizes();
}

BlockStandardizer::BlockStandardizer(torch::Tensor mean, torch::Tensor std, std::vector<int64_t> block_sizes)
    : mean_(mean.to(torch::kCPU, torch::kFloat64).contiguous()),
      std_(std.to(torch::kCPU, torch::kFloat64).contiguous()),
      block_sizes_(std::move(block_sizes)) {
  const auto B = static_cast<int64_t>(block_sizes_.size());
  HYPERREP_CHECK(mean_.dim() == 1 && mean_.size(0) == B && std_.dim() == 1 && std_.size(0) == B, DataError,
                 "standardisation statistics need mean and std of ", B, " blocks");
  std_ = torch::where(std_ < 1e-12, torch::ones_like(std_), std_);
}

BlockStandardizer BlockStandardizer::compute(const torch::Tensor& weights, const std::vector<int64_t>& block_sizes,
                                             dist::Communicator* comm) {
  const int64_t L = std::accumulate(block_sizes.begin(), block_sizes.end(), int64_t{0});
  HYPERREP_CHECK(weights.dim() == 2 && weights.size(1) == L, DataError, "standardisation: weights must be [N, ", L, "]");
  const auto B = static_cast<int64_t>(block_sizes.size());
  // Row 0: sums, row 1: sums of squares, row 2: counts; one all-reduce for everything.
  torch::Tensor moments = torch::zeros({3, B}, torch::kFloat64);
  const torch::Tensor w = weights.to(torch::kCPU, torch::kFloat64);
  int64_t offset = 0;
  for (int64_t b = 0; b < B; ++b) {
    const torch::Tensor x = w.narrow(1, offset, block_sizes[static_cast<size_t>(b)]);
    moments[0][b] = x.sum();
    moments[1][b] = x.square().sum();
    moments[2][b] = static_cast<double>(x.numel());
    offset += block_sizes[static_cast<size_t>(b)];
  }
  if (comm) comm->all_reduce(moments, dist::ReduceOp::kSum);
  HYPERREP_CHECK(moments[2].min().item<double>() > 0, DataError, "standardisation over an empty training split");
  const torch::Tensor mean = moments[0] / moments[2];
  const torch::Tensor var = (moments[1] / moments[2] - mean.square()).clamp_min(0.0);
  return BlockStandardizer(mean, var.sqrt(), block_sizes);
}

torch::Tensor BlockStandardizer::per_param(const torch::Tensor& per_block, const torch::Tensor& like) const {
  const torch::Tensor sizes = torch::tensor(block_sizes_, torch::kInt64);
  return per_block.repeat_interleave(sizes).to(like.device(), like.scalar_type());
}

torch::Tensor BlockStandardizer::standardize(const torch::Tensor& w) const {
  HYPERREP_CHECK(defined(), DataError, "standardisation statistics are not computed");
  return (w - per_param(mean_, w)) / per_param(std_, w);
}

torch::Tensor BlockStandardizer::destandardize(const torch::Tensor& w) const {
  HYPERREP_CHECK(defined(), DataError, "standardisation statistics are not computed");
  return w * per_param(std_, w) + per_param(mean_, w);
}

void BlockStandardizer::save(const std::string& path) const {
  std::ostringstream os;
  torch::save(std::vector<torch::Tensor>{mean_, std_, torch::tensor(block_sizes_, torch::kInt64)}, os);
  write_file_atomic(path, os.str());
}

BlockStandardizer BlockStandardizer::load(const std::string& path) {
  std::vector<torch::Tensor> t;
  try {
    std::istringstream is(read_file(path));
    torch::load(t, is);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    HYPERREP_THROW(DataError, "cannot read standardisation statistics '", path, "': ", e.what());
  }
  HYPERREP_CHECK(t.size() == 3 && t[2].dim() == 1, DataError, "'", path, "' does not hold (mean, std, block sizes)");
  const torch::Tensor sizes = t[2].to(torch::kInt64).contiguous();
  return BlockStandardizer(t[0], t[1],
                           std::vector<int64_t>(sizes.data_ptr<int64_t>(), sizes.data_ptr<int64_t>() + sizes.numel()));
}

}  // namespace hyperrep::data
