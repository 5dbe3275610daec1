#include "interop/smallcnnzoo.h"

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_map>

#include "common/csv.h"
#include "common/error.h"
#include "common/fs.h"
#include "distributed/communicator.h"
#include "interop/npy.h"
#include "store/reader.h"
#include "store/store.h"
#include "zoo/architecture.h"

namespace hyperrep::interop {
namespace {

namespace fs = std::filesystem;

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// Lines of a text file that may be gzip-compressed (zlib reads plain files as they are). A line
// longer than kMaxLine is an error, so a file without newlines (or a gzip bomb of one) is refused
// after reading at most that much.
class LineReader {
 public:
  static constexpr size_t kMaxLine = size_t{1} << 20;

  explicit LineReader(const std::string& path) : path_(path) {
    FileDescriptor fd = open_regular_file(path);
    const int own = ::dup(fd.get());
    HYPERREP_CHECK(own >= 0, IoError, "cannot read '", path, "'");
    gz_ = gzdopen(own, "rb");
    if (!gz_) {
      ::close(own);
      HYPERREP_THROW(IoError, "cannot read '", path, "'");
    }
    gzbuffer(gz_, 1 << 16);
  }
  ~LineReader() {
    if (gz_) gzclose(gz_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its newline (and \r); false at the end of the file.
  bool next(std::string& line) {
    line.clear();
    while (true) {
      const size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        line.assign(buf_, pos_, nl - pos_);
        pos_ = nl + 1;
        break;
      }
      HYPERREP_CHECK(buf_.size() - pos_ <= kMaxLine, DataError, "'", path_, "' line ", number_ + 1, " is longer than ", kMaxLine,
                     " bytes: not a metrics table");
      if (eof_) {
        if (pos_ == buf_.size()) return false;
        line.assign(buf_, pos_, std::string::npos);
        pos_ = buf_.size();
        break;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      char chunk[1 << 16];
      const int got = gzread(gz_, chunk, sizeof chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(gz_, &code);
        HYPERREP_THROW(DataError, "'", path_, "' is corrupt after line ", number_, ": ", msg ? msg : "gzip error");
      }
      if (got == 0) {
        int code = 0;
        gzerror(gz_, &code);
        HYPERREP_CHECK(code != Z_BUF_ERROR, DataError, "'", path_, "' ends inside its gzip stream (truncated)");
        HYPERREP_CHECK(code == Z_OK, DataError, "'", path_, "' is corrupt after line ", number_);
        eof_ = true;
      }
      buf_.append(chunk, static_cast<size_t>(std::max(got, 0)));
    }
    ++number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  int64_t line_number() const { return number_; }

 private:
  std::string path_;
  gzFile gz_ = nullptr;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t number_ = 0;
};

// Column positions of a CSV header by name; a leading unnamed column (an index) is allowed.
std::map<std::string, size_t> header_columns(const std::vector<std::string>& names, const std::string& path) {
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string n = trim(names[i]);
    if (n.empty() && i == 0) continue;
    HYPERREP_CHECK(!n.empty(), DataError, "'", path, "': column ", i + 1, " has no name");
    HYPERREP_CHECK(at.emplace(n, i).second, DataError, "'", path, "': column '", n, "' appears twice");
  }
  return at;
}

bool parse_number(const std::string& text, double& v) {
  const std::string t = trim(text);
  if (t.empty()) {
    v = std::nan("");
    return true;
  }
  char* end = nullptr;
  v = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size();
}

int64_t parse_index(const std::string& text, const std::string& what) {
  double v = 0;
  HYPERREP_CHECK(parse_number(text, v) && std::isfinite(v) && v >= 0 && v == std::floor(v) && v < 9e15, DataError, what, ": '",
                 text, "' is not a non-negative integer");
  return static_cast<int64_t>(v);
}

// One column of metrics.csv: numbers while every value is one; texts (categorical) otherwise.
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
    if (parse_number(cell, v)) {
      numbers.push_back(v);
      if (categorical()) text_ids.push_back(-1);
      return;
    }
    if (!categorical()) text_ids.assign(numbers.size(), -1);
    numbers.push_back(std::nan(""));
    auto [it, added] = ids.emplace(trim(cell), static_cast<int32_t>(texts.size()));
    if (added) texts.push_back(it->first);
    text_ids.push_back(it->second);
  }
  std::string text(size_t row) const {
    if (text_ids[row] >= 0) return texts[static_cast<size_t>(text_ids[row])];
    if (std::isnan(numbers[row])) return "";
    char b[32];
    std::snprintf(b, sizeof b, "%.17g", numbers[row]);
    return b;
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
  const auto at = header_columns(names, path);
  std::vector<std::string> missing;
  for (const char* required : {"modeldir", "step", "test_accuracy", "test_loss", "train_accuracy", "train_loss"})
    if (!at.count(required)) missing.push_back(required);
  HYPERREP_CHECK(missing.empty(), DataError, "'", path, "' lacks the column", missing.size() == 1 ? " " : "s ",
                 quote_few(missing, 6), " (BENCHMARKS.md lists the published ones)");
  Metrics m;
  std::vector<std::pair<size_t, size_t>> slots;  // (file column, index into m.columns)
  for (size_t i = 0; i < names.size(); ++i) {    // file order
    const std::string name = trim(names[i]);
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
    if (trim(line).empty()) continue;
    HYPERREP_CHECK(static_cast<int64_t>(m.step.size()) < max_rows, DataError, where(), ": more rows than weights.npy has (",
                   max_rows, ")");
    const std::vector<std::string> cells = parse_csv_line(line);
    HYPERREP_CHECK(cells.size() == names.size(), DataError, where(), ": ", cells.size(), " fields, the header has ",
                   names.size());
    auto [it, added] = run_ids.emplace(trim(cells[modeldir]), static_cast<int32_t>(m.runs.size()));
    if (added) m.runs.push_back(it->first);
    m.run.push_back(it->second);
    m.step.push_back(parse_index(cells[step], where() + " step"));
    for (const auto& [file_col, c] : slots) m.columns[c].add(cells[file_col]);
  }
  return m;
}

std::vector<int64_t> parse_shape(const std::string& text, const std::string& where) {
  std::string t = trim(text);
  HYPERREP_CHECK(t.size() >= 2 && t.front() == '(' && t.back() == ')', DataError, where, ": shape '", text,
                 "' is not a tuple like (3, 3, 1, 16)");
  std::vector<int64_t> shape;
  std::stringstream ss(t.substr(1, t.size() - 2));
  for (std::string d; std::getline(ss, d, ',');) {
    if (trim(d).empty()) continue;
    const int64_t v = parse_index(d, where + " shape");
    HYPERREP_CHECK(v >= 1 && v <= (int64_t{1} << 24), DataError, where, ": shape entry ", v, " is out of range");
    shape.push_back(v);
  }
  HYPERREP_CHECK(!shape.empty() && shape.size() <= 4, DataError, where, ": shape '", text, "' has ", shape.size(), " dimensions");
  return shape;
}

std::string layer_of(const std::string& varname) {
  const size_t slash = varname.rfind('/');
  return slash == std::string::npos ? "" : varname.substr(0, slash);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The layout's tensors grouped into layers: (kernel, bias or null) in layout order.
std::vector<std::pair<const LayoutEntry*, const LayoutEntry*>> layers_of(const std::vector<LayoutEntry>& layout) {
  std::vector<std::string> order;
  std::map<std::string, std::pair<const LayoutEntry*, const LayoutEntry*>> by_layer;
  for (const auto& e : layout) {
    const std::string layer = layer_of(e.varname);
    const bool kernel = ends_with(e.varname, "kernel:0"), bias = ends_with(e.varname, "bias:0");
    HYPERREP_CHECK(kernel || bias, DataError, "layout.csv: variable '", e.varname, "' is neither a kernel:0 nor a bias:0");
    auto [it, added] = by_layer.emplace(layer, std::make_pair(nullptr, nullptr));
    if (added) order.push_back(layer);
    const LayoutEntry*& slot = kernel ? it->second.first : it->second.second;
    HYPERREP_CHECK(slot == nullptr, DataError, "layout.csv: layer '", layer, "' has two ", kernel ? "kernels" : "biases");
    slot = &e;
  }
  std::vector<std::pair<const LayoutEntry*, const LayoutEntry*>> out;
  for (const auto& name : order) {
    const auto& [k, b] = by_layer.at(name);
    HYPERREP_CHECK(k != nullptr, DataError, "layout.csv: layer '", name, "' has a bias but no kernel");
    HYPERREP_CHECK(b == nullptr || (b->shape.size() == 1 && b->shape[0] == k->shape.back()), DataError, "layout.csv: bias of '",
                   name, "' does not match its kernel's ", k->shape.back(), " outputs");
    out.emplace_back(k, b);
  }
  return out;
}

// kSmallCnnZooArchitectureFile: "input_shape C,H,W" then one layer spec per line.
std::pair<std::vector<std::string>, std::vector<int64_t>> read_architecture_file(const std::string& path) {
  const std::string text = read_file(path, 1 << 20);
  std::stringstream in(text);
  std::vector<std::string> layers;
  std::vector<int64_t> shape;
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (line.empty()) continue;
    if (line.rfind("input_shape ", 0) == 0) {
      std::stringstream ss(line.substr(12));
      for (std::string d; std::getline(ss, d, ',');) {
        shape.push_back(parse_index(d, "'" + path + "' input_shape"));
        HYPERREP_CHECK(shape.back() >= 1 && shape.back() <= (int64_t{1} << 16), DataError, "'", path, "': input_shape entry ",
                       shape.back(), " is outside 1..65536");
      }
    } else {
      layers.push_back(line);
    }
  }
  HYPERREP_CHECK(!layers.empty() && !shape.empty(), DataError, "'", path, "' needs an input_shape line and layer specs");
  return {layers, shape};
}

std::string architecture_file_text(const zoo::Architecture& arch) {
  std::string text = "input_shape ";
  for (size_t i = 0; i < arch.input_shape().size(); ++i) text += (i ? "," : "") + std::to_string(arch.input_shape()[i]);
  text += "\n";
  for (const auto& l : arch.spec()) text += l + "\n";
  return text;
}

// The layout.csv entries of an architecture, as Keras names a Sequential's layers.
std::vector<LayoutEntry> layout_of(const zoo::Architecture& arch) {
  std::vector<LayoutEntry> out;
  int64_t offset = 0, convs = 0, denses = 0;
  for (size_t j : arch.param_layers()) {
    const zoo::Layer& l = arch.layers()[j];
    const bool conv = l.kind == zoo::LayerKind::kConv;
    const int64_t n = conv ? convs++ : denses++;
    const std::string name = std::string("sequential/") + (conv ? "conv2d" : "dense") + (n ? "_" + std::to_string(n) : "");
    if (l.bias) {
      out.push_back({name + "/bias:0", offset, offset + l.out, {l.out}});
      offset += l.out;
    }
    out.push_back({name + "/kernel:0", offset, offset + l.weight_numel(),
                   conv ? std::vector<int64_t>{l.kernel, l.kernel, l.in, l.out} : std::vector<int64_t>{l.in, l.out}});
    offset += l.weight_numel();
  }
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string number_text(double v) {
  if (std::isnan(v)) return "nan";
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// The metrics.csv column of a property: the published name where there is one, config.X for
// other properties that the importer maps back to X, else the property's own name.
std::string column_of(const std::string& property) {
  static const std::map<std::string, std::string> kColumns = {
      {"test_acc", "test_accuracy"},  {"train_acc", "train_accuracy"}, {"epoch", "step"},         {"run", "modeldir"},
      {"lr", "config.learning_rate"}, {"l2", "config.l2reg"},          {"init", "config.w_init"}, {"seed", "config.random_seed"}};
  auto it = kColumns.find(property);
  if (it != kColumns.end()) return it->second;
  if (smallcnnzoo_property_name("config." + property) == property) return "config." + property;
  return property;
}

// Removes a temporary file when a writer fails before renaming it into place.
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

std::vector<LayoutEntry> read_smallcnnzoo_layout(const std::string& path, int64_t cols) {
  LineReader in(path);
  std::string line;
  HYPERREP_CHECK(in.next(line), DataError, "'", path, "' is empty");
  const std::vector<std::string> names = parse_csv_line(line);
  const auto at = header_columns(names, path);
  for (const char* required : {"varname", "start_idx", "end_idx", "shape"})
    HYPERREP_CHECK(at.count(required), DataError, "'", path, "' lacks the column '", required,
                   "' (expected varname, start_idx, end_idx, shape)");
  std::vector<LayoutEntry> out;
  while (in.next(line)) {
    if (trim(line).empty()) continue;
    const std::string where = "'" + path + "' line " + std::to_string(in.line_number());
    HYPERREP_CHECK(out.size() < 4096, DataError, where, ": more than 4096 tensors");
    const auto cells = parse_csv_line(line);
    HYPERREP_CHECK(cells.size() == names.size(), DataError, where, ": ", cells.size(), " fields, the header has ", names.size());
    LayoutEntry e;
    e.varname = trim(cells[at.at("varname")]);
    e.start = parse_index(cells[at.at("start_idx")], where + " start_idx");
    e.end = parse_index(cells[at.at("end_idx")], where + " end_idx");
    e.shape = parse_shape(cells[at.at("shape")], where + " ('" + e.varname + "')");
    int64_t n = 1;
    for (auto s : e.shape) {
      n *= s;  // each factor <= 2^24 and n <= cols before it: no overflow
      HYPERREP_CHECK(n <= cols, DataError, where, ": '", e.varname, "' has shape ", cells[at.at("shape")],
                     ", more values than a row (", cols, ")");
    }
    HYPERREP_CHECK(e.end >= e.start && e.end - e.start == n, DataError, where, ": '", e.varname, "' spans ", e.start, "..", e.end,
                   " (", e.end - e.start, " values) but its shape holds ", n);
    out.push_back(std::move(e));
  }
  HYPERREP_CHECK(!out.empty(), DataError, "'", path, "' lists no tensors");
  std::vector<const LayoutEntry*> sorted;
  for (const auto& e : out) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const LayoutEntry* a, const LayoutEntry* b) { return a->start < b->start; });
  int64_t next = 0;
  for (const LayoutEntry* e : sorted) {
    HYPERREP_CHECK(e->start == next, DataError, "'", path, "': '", e->varname, "' starts at ", e->start,
                   e->start < next ? ", inside the tensor before it" : ", leaving a gap after ",
                   e->start < next ? "" : std::to_string(next), ": the layout does not tile the row");
    next = e->end;
  }
  HYPERREP_CHECK(next == cols, DataError, "'", path, "': the tensors cover ", next, " values, weights.npy rows have ", cols);
  return out;
}

std::vector<std::string> smallcnnzoo_architecture(const std::vector<LayoutEntry>& layout) {
  std::vector<std::string> spec;
  bool dense_seen = false;
  for (const auto& [k, b] : layers_of(layout)) {
    const auto& s = k->shape;
    const std::string nobias = b ? "" : ",nobias";
    if (s.size() == 4) {
      HYPERREP_CHECK(!dense_seen, DataError, "layout.csv: convolution '", k->varname, "' after a dense layer");
      HYPERREP_CHECK(s[0] == s[1], DataError, "layout.csv: kernel '", k->varname, "' is not square");
      spec.push_back("conv(" + std::to_string(s[2]) + "," + std::to_string(s[3]) + "," + std::to_string(s[0]) + ",stride=2" +
                     nobias + ")");
      spec.push_back("act");
    } else {
      HYPERREP_CHECK(s.size() == 2, DataError, "layout.csv: kernel '", k->varname, "' has shape of ", s.size(),
                     " dimensions (conv: 4, dense: 2)");
      if (!dense_seen && !spec.empty()) spec.push_back("gap");
      if (dense_seen) spec.push_back("act");
      if (spec.empty()) spec.push_back("flatten");
      spec.push_back("linear(" + std::to_string(s[0]) + "," + std::to_string(s[1]) + nobias + ")");
      dense_seen = true;
    }
  }
  HYPERREP_CHECK(dense_seen, DataError, "layout.csv: no dense layer (the network ends in one)");
  return spec;
}

std::vector<int64_t> smallcnnzoo_gather_index(const std::vector<LayoutEntry>& layout,
                                              const std::vector<std::string>& architecture,
                                              const std::vector<int64_t>& input_shape) {
  const auto arch = zoo::Architecture::parse(architecture, input_shape);
  const auto layers = layers_of(layout);
  HYPERREP_CHECK(layers.size() == arch.param_layers().size(), DataError, "layout.csv has ", layers.size(),
                 " layers with parameters, the architecture ", arch.param_layers().size());
  std::vector<int64_t> index(static_cast<size_t>(arch.num_params()), -1);
  for (size_t j = 0; j < layers.size(); ++j) {
    const auto& [k, b] = layers[j];
    const zoo::Layer& l = arch.layers()[arch.param_layers()[j]];
    const bool conv = l.kind == zoo::LayerKind::kConv;
    const std::vector<int64_t> want =
        conv ? std::vector<int64_t>{l.kernel, l.kernel, l.in, l.out} : std::vector<int64_t>{l.in, l.out};
    HYPERREP_CHECK(k->shape == want && (b != nullptr) == l.bias, DataError, "layout.csv: '", k->varname, "' does not fit layer ",
                   j, " of the architecture (", arch.spec()[arch.param_layers()[j]], ")");
    const int64_t kk = conv ? l.kernel * l.kernel : 1;
    for (int64_t o = 0; o < l.out; ++o) {
      for (int64_t i = 0; i < l.in; ++i) {
        for (int64_t r = 0; r < kk; ++r) {
          // hyperrep: [out, in, ky, kx] / [out, in]; TensorFlow: [ky, kx, in, out] / [in, out].
          index[static_cast<size_t>(l.weight_offset + (o * l.in + i) * kk + r)] = k->start + (r * l.in + i) * l.out + o;
        }
      }
      if (b) index[static_cast<size_t>(l.bias_offset + o)] = b->start + o;
    }
  }
  return index;
}

std::string smallcnnzoo_property_name(const std::string& column) {
  static const std::map<std::string, std::string> kNames = {{"test_accuracy", "test_acc"},
                                                            {"train_accuracy", "train_acc"},
                                                            {"test_loss", "test_loss"},
                                                            {"train_loss", "train_loss"},
                                                            {"step", "epoch"},
                                                            {"modeldir", "run"},
                                                            {"config.learning_rate", "lr"},
                                                            {"config.l2reg", "l2"},
                                                            {"config.dropout", "dropout"},
                                                            {"config.w_init", "init"},
                                                            {"config.train_fraction", "train_fraction"},
                                                            {"config.random_seed", "seed"},
                                                            {"config.init_std", "init_std"},
                                                            {"config.activation", "activation"},
                                                            {"config.optimizer", "optimizer"}};
  auto it = kNames.find(column);
  if (it != kNames.end()) return it->second;
  if (column.rfind("config.", 0) == 0) return column.substr(7);
  return column;
}

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
    const auto [arch, shape] = read_architecture_file(recorded);
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
  const auto layout = layout_of(arch);
  // hyperrep index j -> file index gather[j]; the export scatters.
  const auto gather = smallcnnzoo_gather_index(layout, h.architecture, h.input_shape);
  const int64_t L = arch.num_params();

  std::string layout_csv = "varname,start_idx,end_idx,shape\n";
  for (const auto& e : layout)
    layout_csv +=
        e.varname + "," + std::to_string(e.start) + "," + std::to_string(e.end) + "," + csv_field(shape_text(e.shape)) + "\n";
  write_file_atomic(out_dir + "/layout.csv", layout_csv);
  write_file_atomic(out_dir + "/" + kSmallCnnZooArchitectureFile, architecture_file_text(arch));

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
    numeric.emplace_back(column_of(n), static_cast<int>(c));
  }
  int run_col = -1;
  for (size_t c = 0; c < props.categorical_names.size(); ++c) {
    if (props.categorical_names[c] == "run") {
      run_col = static_cast<int>(c);
    } else {
      categorical.emplace_back(column_of(props.categorical_names[c]), static_cast<int>(c));
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
    return c < 0 ? std::string("nan") : number_text(props.numeric[row][static_cast<size_t>(c)]);
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
