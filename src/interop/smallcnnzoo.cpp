#include "interop/smallcnnzoo.h"

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <unordered_map>

#include "common/csv.h"
#include "common/error.h"
#include "common/format.h"
#include "common/fs.h"
#include "distributed/communicator.h"
#include "interop/csv_file.h"
#include "interop/npy.h"
#include "store/reader.h"
#include "store/store.h"
#include "zoo/architecture.h"

namespace hyperrep::interop {
namespace {

namespace fs = std::filesystem;

struct Column {
  std::string name;      // in the file
  std::string property;  // in hyperrep
  std::vector<double> numbers;
  std::vector<int32_t> text_ids;  // empty while numeric; -1 where a cell was a number
  std::vector<std::string> texts;
  std::unordered_map<std::string, int32_t> ids;
  bool categorical() const { return !text_ids.empty(); }
  void add(const std::string& cell) {
    double v = 0;
    if (parse_csv_number(cell, v)) {
      numbers.push_back(v);
      if (categorical()) text_ids.push_back(-1);
      return;
    }
    if (!categorical()) text_ids.assign(numbers.size(), -1);
    numbers.push_back(std::nan(""));
    auto [it, added] = ids.emplace(trim(cell, kCsvBlanks), static_cast<int32_t>(texts.size()));
    if (added) texts.push_back(it->first);
    text_ids.push_back(it->second);
  }
  std::string text(size_t row) const {
    if (text_ids[row] >= 0) return texts[static_cast<size_t>(text_ids[row])];
    return std::isnan(numbers[row]) ? std::string() : format_double(numbers[row]);
  }
};

constexpr const char* kMetricColumns[] = {"test_accuracy", "test_loss", "train_accuracy", "train_loss"};

struct Metrics {
  std::vector<int32_t> run;   // per row: index into runs
  std::vector<int64_t> step;  // per row
  std::vector<std::string> runs;
  std::vector<Column> columns;  // every other named column
};

Metrics read_metrics(const std::string& path, int64_t max_rows) {
  LineReader in(path);
  std::string line;
  HYPERREP_CHECK(in.next(line), DataError, "'", path, "' is empty");
  const std::vector<std::string> names = parse_csv_line(line);
  const auto at = csv_columns(names, path);
  std::vector<std::string> missing;
  for (const char* required : {"modeldir", "step", "test_accuracy", "test_loss", "train_accuracy", "train_loss"})
    if (!at.count(required)) missing.push_back(required);
  HYPERREP_CHECK(missing.empty(), DataError, "'", path, "' lacks the column", missing.size() == 1 ? " " : "s ",
                 quote_few(missing, 6), " (BENCHMARKS.md lists the published ones)");
  Metrics m;
  std::vector<std::pair<size_t, size_t>> slots;  // (file column, index into m.columns)
  for (size_t i = 0; i < names.size(); ++i) {    // file order
    const std::string name = trim(names[i], kCsvBlanks);
    if (name.empty() || name == "modeldir" || name == "step") continue;
    Column c;
    c.name = name;
    c.property = smallcnnzoo_property_name(name);
    slots.emplace_back(i, m.columns.size());
    m.columns.push_back(std::move(c));
  }
  std::unordered_map<std::string, int32_t> run_ids;
  const size_t modeldir = at.at("modeldir"), step = at.at("step");
  while (in.next(line)) {
    const auto where = [&] { return "'" + path + "' line " + std::to_string(in.line_number()); };
    // Blank lines count too: a stream of newlines (a gzip bomb of them) ends here.
    HYPERREP_CHECK(in.line_number() <= max_rows + 1001, DataError, where(), ": more lines than weights.npy has rows (", max_rows,
                   ")");
    if (trim(line, kCsvBlanks).empty()) continue;
    HYPERREP_CHECK(static_cast<int64_t>(m.step.size()) < max_rows, DataError, where(), ": more rows than weights.npy has (",
                   max_rows, ")");
    const std::vector<std::string> cells = parse_csv_line(line);
    HYPERREP_CHECK(cells.size() == names.size(), DataError, where(), ": ", cells.size(), " fields, the header has ",
                   names.size());
    auto [it, added] = run_ids.emplace(trim(cells[modeldir], kCsvBlanks), static_cast<int32_t>(m.runs.size()));
    if (added) m.runs.push_back(it->first);
    m.run.push_back(it->second);
    m.step.push_back(parse_csv_index(cells[step], where() + " step"));
    for (const auto& [file_col, c] : slots) m.columns[c].add(cells[file_col]);
  }
  return m;
}

class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  void keep() { path_.clear(); }

 private:
  std::string path_;
};

std::vector<int64_t> input_shape_of_dataset(const std::string& dataset) {
  if (dataset == "mnist" || dataset == "fashion_mnist") return {1, 28, 28};
  if (dataset == "cifar10" || dataset == "svhn_cropped") return {1, 32, 32};
  return {};
}

}  // namespace

SmallCnnZooImportResult import_smallcnnzoo(const std::string& dir, const std::string& out,
                                           const SmallCnnZooImportOptions& options) {
  HYPERREP_CHECK(fs::is_directory(dir), IoError, "'", dir, "' is not a directory");
  const auto t0 = std::chrono::steady_clock::now();
  const NpyMatrix weights(dir + "/weights.npy");
  const auto layout = read_smallcnnzoo_layout(dir + "/layout.csv", weights.cols());
  const std::string metrics_path = fs::exists(dir + "/metrics.csv.gz") ? dir + "/metrics.csv.gz" : dir + "/metrics.csv";
  HYPERREP_CHECK(fs::exists(metrics_path), IoError, "'", dir, "' has neither metrics.csv.gz nor metrics.csv");
  Metrics metrics = read_metrics(metrics_path, weights.rows());
  const int64_t rows = static_cast<int64_t>(metrics.step.size());
  HYPERREP_CHECK(rows == weights.rows(), DataError, "'", metrics_path, "' has ", rows, " rows, '", weights.path(), "' has ",
                 weights.rows());

  SmallCnnZooImportResult result;
  result.architecture = smallcnnzoo_architecture(layout);
  std::vector<int64_t> input_shape = options.input_shape;
  const std::string recorded = dir + "/" + kSmallCnnZooArchitectureFile;
  if (fs::exists(recorded)) {  // written by export_smallcnnzoo: hyperrep's own layer specs
    const auto [arch, shape] = read_smallcnnzoo_architecture_file(recorded);
    result.architecture = arch;
    if (input_shape.empty()) input_shape = shape;
  }
  const Column* dataset = nullptr;
  for (const auto& c : metrics.columns)
    if (c.property == "dataset" && c.categorical()) dataset = &c;
  if (input_shape.empty()) {
    HYPERREP_CHECK(dataset && dataset->texts.size() == 1 && !input_shape_of_dataset(dataset->texts[0]).empty(), UsageError,
                   "cannot tell the input shape from config.dataset",
                   dataset ? " (" + quote_few(dataset->texts) + ")" : std::string(" (no such column)"),
                   ": give --input-shape C,H,W");
    input_shape = input_shape_of_dataset(dataset->texts[0]);
  }
  const auto gather = smallcnnzoo_gather_index(layout, result.architecture, input_shape);
  const int64_t L = static_cast<int64_t>(gather.size());

  // Property columns: the four metrics, ggap and epoch first, then the others in file order.
  store::ZooHeader header;
  header.architecture = result.architecture;
  header.input_shape = input_shape;
  header.num_params = L;
  fs::path name = fs::absolute(dir).lexically_normal();
  if (name.filename().empty()) name = name.parent_path();
  header.task = "smallcnnzoo:" + name.filename().string();
  header.numeric_properties = {"test_acc", "train_acc", "ggap", "test_loss", "train_loss", "epoch"};
  header.categorical_properties = {"run"};
  std::vector<const Column*> numeric, categorical;
  std::map<std::string, const Column*> metric;
  for (const auto& c : metrics.columns) {
    if (std::find(std::begin(kMetricColumns), std::end(kMetricColumns), c.name) != std::end(kMetricColumns)) {
      HYPERREP_CHECK(!c.categorical(), DataError, "'", metrics_path, "': column '", c.name, "' holds text ('", c.texts[0], "')");
      metric[c.name] = &c;
      continue;
    }
    auto& names = c.categorical() ? header.categorical_properties : header.numeric_properties;
    HYPERREP_CHECK(std::find(names.begin(), names.end(), c.property) == names.end(), DataError, "'", metrics_path, "': column '",
                   c.name, "' would be property '", c.property, "' a second time");
    names.push_back(c.property);
    (c.categorical() ? categorical : numeric).push_back(&c);
  }

  // Rows of each run, by step.
  std::vector<std::vector<int64_t>> by_run(metrics.runs.size());
  for (int64_t r = 0; r < rows; ++r) by_run[static_cast<size_t>(metrics.run[static_cast<size_t>(r)])].push_back(r);
  for (size_t m = 0; m < by_run.size(); ++m) {
    auto& rs = by_run[m];
    std::stable_sort(rs.begin(), rs.end(), [&](int64_t a, int64_t b) { return metrics.step[a] < metrics.step[b]; });
    for (size_t i = 1; i < rs.size(); ++i)
      HYPERREP_CHECK(metrics.step[rs[i]] != metrics.step[rs[i - 1]], DataError, "'", metrics_path, "': run '", metrics.runs[m],
                     "' has step ", metrics.step[rs[i]], " twice (data rows ", rs[i - 1] + 1, " and ", rs[i] + 1, ")");
    for (const Column* c : categorical)
      for (int64_t r : rs)
        HYPERREP_CHECK(c->text(r) == c->text(rs[0]), DataError, "'", metrics_path, "': column '", c->name,
                       "' changes within run '", metrics.runs[m], "' (row ", r + 1, ": '", c->text(r), "', row ", rs[0] + 1,
                       ": '", c->text(rs[0]), "')");
  }

  store::ZooWriter writer(out, header, 0);
  std::vector<float> source(static_cast<size_t>(weights.cols()));
  std::vector<store::MemberRecord> batch;
  int64_t member_id = 0, runs_done = 0;
  auto last_log = std::chrono::steady_clock::now();
  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<store::MemberRecord> todo;
    for (auto& rec : batch)
      if (!writer.has_member(rec.member)) todo.push_back(std::move(rec));
    writer.write_members(todo);
    batch.clear();
    weights.release_pages();
  };
  for (size_t m = 0; m < by_run.size(); ++m) {
    store::MemberRecord rec;
    rec.member = member_id;
    std::vector<torch::Tensor> kept;
    for (int64_t r : by_run[m]) {
      weights.read_row(r, source.data());
      bool finite = std::all_of(source.begin(), source.end(), [](float v) { return std::isfinite(v); });
      for (const auto& [n, c] : metric) finite = finite && std::isfinite(c->numbers[r]);
      if (!finite) {
        ++result.dropped_rows;
        continue;
      }
      auto row = torch::empty({L});
      float* dst = row.data_ptr<float>();
      for (int64_t j = 0; j < L; ++j) dst[j] = source[static_cast<size_t>(gather[j])];
      kept.push_back(row);
      const double test = metric.at("test_accuracy")->numbers[r], train = metric.at("train_accuracy")->numbers[r];
      std::map<std::string, double> p = {{"test_acc", test},
                                         {"train_acc", train},
                                         {"ggap", train - test},
                                         {"test_loss", metric.at("test_loss")->numbers[r]},
                                         {"train_loss", metric.at("train_loss")->numbers[r]},
                                         {"epoch", static_cast<double>(metrics.step[r])}};
      for (const Column* c : numeric) p[c->property] = c->numbers[r];
      rec.numeric.push_back(std::move(p));
      rec.epochs.push_back(metrics.step[r]);
    }
    ++runs_done;
    if (kept.empty()) {
      ++result.dropped_members;
      continue;
    }
    rec.weights = torch::stack(kept);
    rec.categorical["run"] = metrics.runs[m];
    for (const Column* c : categorical) rec.categorical[c->property] = c->text(by_run[m].front());
    result.rows += static_cast<int64_t>(kept.size());
    batch.push_back(std::move(rec));
    ++member_id;
    if (static_cast<int64_t>(batch.size()) >= options.members_per_write) flush();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log > std::chrono::seconds(10)) {
      spdlog::info("smallcnnzoo import: {}/{} runs, {} rows ({:.0f} s)", runs_done, by_run.size(), result.rows,
                   std::chrono::duration<double>(now - t0).count());
      last_log = now;
    }
  }
  flush();
  HYPERREP_CHECK(member_id > 0, DataError, "'", dir, "': no run has a row with finite weights and metrics");
  dist::LocalCommunicator local;
  writer.finalize(local, member_id);
  result.members = member_id;
  spdlog::info("smallcnnzoo import: {} members, {} rows; dropped {} rows with non-finite weights or metrics ({} runs left empty)",
               result.members, result.rows, result.dropped_rows, result.dropped_members);
  return result;
}

SmallCnnZooExportResult export_smallcnnzoo(const std::string& zoo_dir, const std::string& out_dir) {
  const store::ZooReader reader(zoo_dir);
  const store::ZooHeader& h = reader.header();
  const auto arch = zoo::Architecture::parse(h.architecture, h.input_shape);
  if (fs::exists(out_dir)) {
    HYPERREP_CHECK(fs::is_directory(out_dir) && fs::is_empty(out_dir), UsageError, "'", out_dir,
                   "' exists and is not an empty directory: the export does not overwrite");
  }
  make_dirs(out_dir);
  const auto layout = smallcnnzoo_layout_of(arch);
  // hyperrep index j -> file index gather[j]; the export scatters.
  const auto gather = smallcnnzoo_gather_index(layout, h.architecture, h.input_shape);
  const int64_t L = arch.num_params();

  write_file_atomic(out_dir + "/layout.csv", smallcnnzoo_layout_csv(layout));
  write_file_atomic(out_dir + "/" + kSmallCnnZooArchitectureFile, smallcnnzoo_architecture_file_text(arch));

  // weights.npy, streamed row by row into a temporary file, then renamed.
  const std::string npy = out_dir + "/weights.npy", npy_tmp = npy + ".tmp";
  {
    std::FILE* f = std::fopen(npy_tmp.c_str(), "wb");
    HYPERREP_CHECK(f, IoError, "cannot write '", npy_tmp, "': ", std::strerror(errno));
    // Closed and removed if anything below throws (a shard failing its checksum, a full disk).
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(f, std::fclose);
    TempFile cleanup(npy_tmp);
    const std::string header = npy_float32_header(reader.num_checkpoints(), L);
    bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
    std::vector<float> row(static_cast<size_t>(L));
    for (int64_t m = 0; ok && m < reader.num_members(); ++m) {
      if (m > 0 && reader.member(m).shard != reader.member(m - 1).shard) reader.release_mappings();
      const auto w = reader.weights_view(m);
      for (int64_t r = 0; ok && r < w.size(0); ++r) {
        const float* src = w[r].data_ptr<float>();
        for (int64_t j = 0; j < L; ++j) row[static_cast<size_t>(gather[static_cast<size_t>(j)])] = src[j];
        ok = std::fwrite(row.data(), sizeof(float), row.size(), f) == row.size();
      }
    }
    ok = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0 && ok;
    ok = std::fclose(guard.release()) == 0 && ok;
    HYPERREP_CHECK(ok, IoError, "cannot write '", npy_tmp, "': ", std::strerror(errno));
    fs::rename(npy_tmp, npy);
    cleanup.keep();
  }

  // metrics.csv.gz: the published columns first, then every other property.
  const store::PropertyTable& props = reader.properties();
  const auto col = [&](const std::string& n) { return props.numeric_column(n); };
  std::vector<std::pair<std::string, int>> numeric, categorical;  // (column, index in the table)
  for (size_t c = 0; c < props.numeric_names.size(); ++c) {
    const std::string& n = props.numeric_names[c];
    if (n == "test_acc" || n == "train_acc" || n == "test_loss" || n == "train_loss" || n == "ggap") continue;
    numeric.emplace_back(smallcnnzoo_column_name(n), static_cast<int>(c));
  }
  int run_col = -1;
  for (size_t c = 0; c < props.categorical_names.size(); ++c) {
    if (props.categorical_names[c] == "run") {
      run_col = static_cast<int>(c);
    } else {
      categorical.emplace_back(smallcnnzoo_column_name(props.categorical_names[c]), static_cast<int>(c));
    }
  }
  std::string text = ",modeldir,step,test_accuracy,test_loss,train_accuracy,train_loss";
  for (const auto& [name, c] : numeric) text += "," + csv_field(name);
  for (const auto& [name, c] : categorical) text += "," + csv_field(name);
  text += "\n";
  const std::string gz = out_dir + "/metrics.csv.gz", gz_tmp = gz + ".tmp";
  gzFile out = gzopen(gz_tmp.c_str(), "wb6");
  HYPERREP_CHECK(out, IoError, "cannot write '", gz_tmp, "'");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz_guard(out, gzclose);
  TempFile gz_cleanup(gz_tmp);
  bool ok = true;
  auto flush = [&](bool force) {
    if (!force && text.size() < (size_t{1} << 20)) return;
    ok = ok && (text.empty() || gzwrite(out, text.data(), static_cast<unsigned>(text.size())) == static_cast<int>(text.size()));
    text.clear();
  };
  const auto value = [&](size_t row, int c) {
    return c < 0 ? std::string("nan") : format_double(props.numeric[row][static_cast<size_t>(c)]);
  };
  char id[32];
  for (int64_t r = 0; r < props.rows(); ++r) {
    const auto row = static_cast<size_t>(r);
    std::snprintf(id, sizeof id, "member_%06lld", static_cast<long long>(props.member[row]));
    const std::string run = run_col >= 0 ? props.categorical[row][static_cast<size_t>(run_col)] : std::string(id);
    text += std::to_string(r) + "," + csv_field(run) + "," + std::to_string(props.epoch[row]) + "," +
            value(row, col("test_acc")) + "," + value(row, col("test_loss")) + "," + value(row, col("train_acc")) + "," +
            value(row, col("train_loss"));
    for (const auto& [name, c] : numeric) text += "," + value(row, c);
    for (const auto& [name, c] : categorical) text += "," + csv_field(props.categorical[row][static_cast<size_t>(c)]);
    text += "\n";
    flush(false);
  }
  flush(true);
  ok = gzclose(gz_guard.release()) == Z_OK && ok;
  HYPERREP_CHECK(ok, IoError, "cannot write '", gz_tmp, "'");
  fs::rename(gz_tmp, gz);
  gz_cleanup.keep();
  fsync_dir(out_dir);
  SmallCnnZooExportResult result;
  result.members = reader.num_members();
  result.rows = reader.num_checkpoints();
  return result;
}

}  // namespace hyperrep::interop
