#include "interop/smallcnnzoo_layout.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "common/csv.h"
#include "common/error.h"
#include "common/format.h"
#include "common/fs.h"
#include "interop/csv_file.h"

namespace hyperrep::interop {
namespace {

std::vector<int64_t> parse_shape(const std::string& text, const std::string& where) {
  std::string t = trim(text, kCsvBlanks);
  HYPERREP_CHECK(t.size() >= 2 && t.front() == '(' && t.back() == ')', DataError, where, ": shape '", text,
                 "' is not a tuple like (3, 3, 1, 16)");
  std::vector<int64_t> shape;
  std::stringstream ss(t.substr(1, t.size() - 2));
  for (std::string d; std::getline(ss, d, ',');) {
    if (trim(d, kCsvBlanks).empty()) continue;
    const int64_t v = parse_csv_index(d, where + " shape");
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

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// metrics.csv columns with a hyperrep name of their own, both ways.
const std::vector<std::pair<std::string, std::string>>& published_names() {
  static const std::vector<std::pair<std::string, std::string>> kNames = {{"test_accuracy", "test_acc"},
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
  return kNames;
}

}  // namespace

std::vector<LayoutEntry> read_smallcnnzoo_layout(const std::string& path, int64_t cols) {
  LineReader in(path);
  std::string line;
  HYPERREP_CHECK(in.next(line), DataError, "'", path, "' is empty");
  const std::vector<std::string> names = parse_csv_line(line);
  const auto at = csv_columns(names, path);
  for (const char* required : {"varname", "start_idx", "end_idx", "shape"})
    HYPERREP_CHECK(at.count(required), DataError, "'", path, "' lacks the column '", required,
                   "' (expected varname, start_idx, end_idx, shape)");
  std::vector<LayoutEntry> out;
  while (in.next(line)) {
    if (trim(line, kCsvBlanks).empty()) continue;
    const std::string where = "'" + path + "' line " + std::to_string(in.line_number());
    HYPERREP_CHECK(out.size() < 4096, DataError, where, ": more than 4096 tensors");
    const auto cells = parse_csv_line(line);
    HYPERREP_CHECK(cells.size() == names.size(), DataError, where, ": ", cells.size(), " fields, the header has ", names.size());
    LayoutEntry e;
    e.varname = trim(cells[at.at("varname")], kCsvBlanks);
    e.start = parse_csv_index(cells[at.at("start_idx")], where + " start_idx");
    e.end = parse_csv_index(cells[at.at("end_idx")], where + " end_idx");
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
  for (const auto& [col, property] : published_names())
    if (col == column) return property;
  if (column.rfind("config.", 0) == 0) return column.substr(7);
  return column;
}

std::string smallcnnzoo_column_name(const std::string& property) {
  for (const auto& [column, name] : published_names())
    if (name == property) return column;
  if (smallcnnzoo_property_name("config." + property) == property) return "config." + property;
  return property;
}

std::pair<std::vector<std::string>, std::vector<int64_t>> read_smallcnnzoo_architecture_file(const std::string& path) {
  const std::string text = read_file(path, 1 << 20);
  std::stringstream in(text);
  std::vector<std::string> layers;
  std::vector<int64_t> shape;
  for (std::string line; std::getline(in, line);) {
    line = trim(line, kCsvBlanks);
    if (line.empty()) continue;
    if (line.rfind("input_shape ", 0) == 0) {
      std::stringstream ss(line.substr(12));
      for (std::string d; std::getline(ss, d, ',');) {
        shape.push_back(parse_csv_index(d, "'" + path + "' input_shape"));
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

std::string smallcnnzoo_architecture_file_text(const zoo::Architecture& arch) {
  std::string text = "input_shape ";
  for (size_t i = 0; i < arch.input_shape().size(); ++i) text += (i ? "," : "") + std::to_string(arch.input_shape()[i]);
  text += "\n";
  for (const auto& l : arch.spec()) text += l + "\n";
  return text;
}

std::string smallcnnzoo_layout_csv(const std::vector<LayoutEntry>& layout) {
  std::string text = "varname,start_idx,end_idx,shape\n";
  for (const auto& e : layout)
    text += e.varname + "," + std::to_string(e.start) + "," + std::to_string(e.end) + "," + csv_field(shape_text(e.shape)) + "\n";
  return text;
}

std::vector<LayoutEntry> smallcnnzoo_layout_of(const zoo::Architecture& arch) {
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

}  // namespace hyperrep::interop
