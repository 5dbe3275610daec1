// hyperrep zoo info|verify|export|import: inspect, check, export and import zoo stores. Rank 0
// does the work (under mpirun the other ranks return at once).
#include "launch/cmd_zoo_tools.h"

#include <cmath>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>

#include "common/config.h"
#include "data/zoo_dataset.h"
#include "launch/args.h"
#include "zoo/architecture.h"
#include "zoo/modelzoo_import.h"
#include "zoo/torch_format.h"
#include "zoo/zoo_reader.h"

namespace hyperrep::cli {

const char* const kZooToolsUsage = R"(  info ZOO [--json] [--config FILE] [--set section.key=value]...
      Members, checkpoints, parameters per member, architecture, the member split of [data]
      (fractions and seed from --config, else the defaults), numeric property ranges,
      categories (members per value) and a content hash over all weights in member order.
  verify ZOO
      Recompute the checksum of every shard and of properties.csv; exit 1 naming bad files.
  export ZOO --member I --epoch E --out FILE.pt
      Write one checkpoint as a PyTorch state_dict (keys of the equivalent nn.Sequential).
  import --from modelzoo DIR --out ZOO [--config FILE] [--input-shape C,H,W]
      Import a directory of the public "Model Zoos" dataset; the members' architecture is the
      config's zoo.architecture, the input shape is --input-shape or that of zoo.task
      (tetris 1,4,4; fashion_mnist and idx 1,28,28).
)";

namespace {

std::string json_str(const std::string& s) {
  std::ostringstream os;
  os << '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') os << '\\' << c;
    else if (c == '\n') os << "\\n";
    else if (c < 0x20) os << "\\u" << std::hex << std::setw(4) << std::setfill('0') << int(c) << std::dec;
    else os << c;
  }
  return os.str() + '"';
}

std::string json_num(double v) { return std::isfinite(v) ? zoo::format_double(v) : "null"; }

template <typename T, typename F>
std::string json_list(const std::vector<T>& v, F&& f) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + f(v[i]);
  return out + "]";
}

std::string only_zoo(const Args& args, const char* verb, const char* usage) {
  HYPERREP_CHECK(args.positional().size() == 1, UsageError, "zoo ", verb, " takes exactly one ZOO directory\nusage:\n", usage);
  return args.positional()[0];
}

struct Range {
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
  int64_t non_finite = 0;
};

}  // namespace

int zoo_info(Context& ctx, const std::vector<std::string>& rest) {
  Args args(rest, {"--config"}, {"--json"});
  if (args.help()) return std::cout << "usage:\n" << kZooToolsUsage, 0;
  const std::string dir = only_zoo(args, "info", kZooToolsUsage);
  const Config cfg = load_config_from(args);
  if (ctx.mpi.rank() != 0) return 0;
  const zoo::ZooReader reader(dir);
  const zoo::ZooHeader& h = reader.header();
  const zoo::PropertyTable& props = reader.properties();
  const data::MemberSplit split = data::split_members(reader.num_members(), cfg.data.split, cfg.data.split_seed);

  int64_t min_rows = std::numeric_limits<int64_t>::max(), max_rows = 0, min_epoch = min_rows, max_epoch = -1, bytes = 0;
  for (const auto& m : reader.manifest().members) {
    min_rows = std::min(min_rows, m.rows()), max_rows = std::max(max_rows, m.rows());
    min_epoch = std::min(min_epoch, m.epochs.front()), max_epoch = std::max(max_epoch, m.epochs.back());
  }
  for (const auto& s : reader.manifest().shards) bytes += s.bytes;
  std::vector<Range> ranges(props.numeric_names.size());
  for (const auto& row : props.numeric) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (!std::isfinite(row[c])) {
        ++ranges[c].non_finite;
        continue;
      }
      ranges[c].min = std::min(ranges[c].min, row[c]), ranges[c].max = std::max(ranges[c].max, row[c]);
    }
  }
  // Categorical properties belong to the member: count members, from each member's first row.
  std::vector<std::map<std::string, int64_t>> categories(props.categorical_names.size());
  for (int64_t m = 0; m < reader.num_members(); ++m) {
    const auto& row = props.categorical[static_cast<size_t>(reader.global_row(m))];
    for (size_t c = 0; c < row.size(); ++c) ++categories[c][row[c]];
  }
  const std::string hash = reader.content_hash();

  if (args.has("--json")) {
    std::ostringstream os;
    os << "{\n  \"zoo\": " << json_str(dir) << ",\n  \"task\": " << json_str(h.task)
       << ",\n  \"members\": " << reader.num_members() << ",\n  \"checkpoints\": " << reader.num_checkpoints()
       << ",\n  \"checkpoints_per_member\": [" << min_rows << ", " << max_rows << "],\n  \"epochs\": [" << min_epoch << ", "
       << max_epoch << "],\n  \"parameters_per_member\": " << h.num_params
       << ",\n  \"architecture\": " << json_list(h.architecture, json_str)
       << ",\n  \"input_shape\": " << json_list(h.input_shape, [](int64_t v) { return std::to_string(v); })
       << ",\n  \"shards\": " << reader.manifest().shards.size() << ",\n  \"shard_bytes\": " << bytes
       << ",\n  \"split\": {\"fractions\": " << json_list(cfg.data.split, json_num) << ", \"seed\": " << cfg.data.split_seed
       << ", \"train\": " << split.train.size() << ", \"val\": " << split.val.size() << ", \"test\": " << split.test.size()
       << "},\n  \"numeric\": {";
    for (size_t c = 0; c < ranges.size(); ++c) {
      os << (c ? ", " : "") << "\n    " << json_str(props.numeric_names[c]) << ": {\"min\": " << json_num(ranges[c].min)
         << ", \"max\": " << json_num(ranges[c].max) << ", \"non_finite\": " << ranges[c].non_finite << "}";
    }
    os << "\n  },\n  \"categorical\": {";
    for (size_t c = 0; c < categories.size(); ++c) {
      os << (c ? ", " : "") << "\n    " << json_str(props.categorical_names[c]) << ": {";
      size_t k = 0;
      for (const auto& [value, count] : categories[c]) os << (k++ ? ", " : "") << json_str(value) << ": " << count;
      os << "}";
    }
    os << "\n  },\n  \"content_hash\": " << json_str(hash) << "\n}\n";
    std::cout << os.str();
    return 0;
  }
  std::ostringstream os;
  os << "zoo           " << dir << "\ntask          " << h.task << "\nmembers       " << reader.num_members()
     << "\ncheckpoints   " << reader.num_checkpoints() << " (" << min_rows;
  if (max_rows != min_rows) os << ".." << max_rows;
  os << " per member, epochs " << min_epoch << ".." << max_epoch << ")\nparameters    " << h.num_params
     << " per member\narchitecture  ";
  for (size_t i = 0; i < h.architecture.size(); ++i) os << (i ? ", " : "") << h.architecture[i];
  os << "  (input";
  for (auto d : h.input_shape) os << " " << d;
  os << ")\nshards        " << reader.manifest().shards.size() << " (" << bytes << " bytes)\nsplit         train "
     << split.train.size() << ", val " << split.val.size() << ", test " << split.test.size() << " members (fractions "
     << cfg.data.split[0] << "/" << cfg.data.split[1] << "/" << cfg.data.split[2] << ", seed " << cfg.data.split_seed << ")\n";
  os << "numeric properties (min .. max over checkpoints)\n";
  for (size_t c = 0; c < ranges.size(); ++c) {
    os << "  " << std::left << std::setw(14) << props.numeric_names[c] << std::right;
    if (ranges[c].min <= ranges[c].max) os << zoo::format_double(ranges[c].min) << " .. " << zoo::format_double(ranges[c].max);
    else os << "-";
    if (ranges[c].non_finite) os << "  (" << ranges[c].non_finite << " non-finite)";
    os << "\n";
  }
  os << "categorical properties (members per value)\n";
  for (size_t c = 0; c < categories.size(); ++c) {
    os << "  " << std::left << std::setw(14) << props.categorical_names[c] << std::right;
    size_t k = 0;
    for (const auto& [value, count] : categories[c]) os << (k++ ? ", " : "") << value << ": " << count;
    os << "\n";
  }
  os << "content hash  " << hash << "\n";
  std::cout << os.str();
  return 0;
}

int zoo_verify(Context& ctx, const std::vector<std::string>& rest) {
  Args args(rest, {}, {});
  if (args.help()) return std::cout << "usage:\n" << kZooToolsUsage, 0;
  const std::string dir = only_zoo(args, "verify", kZooToolsUsage);
  if (ctx.mpi.rank() != 0) return 0;
  const zoo::VerifyReport report = zoo::verify_zoo(dir);
  for (const auto& f : report.files) std::cout << (f.ok ? "ok   " : "BAD  ") << f.path << (f.ok ? "" : ": " + f.problem) << "\n";
  if (report.ok()) {
    zoo::ZooReader(dir).properties();  // checksums can match while the CSV disagrees with the index
    std::cout << "zoo " << dir << ": " << report.files.size() << " files, every checksum matches\n";
    return 0;
  }
  std::cerr << "zoo " << dir << " is damaged: ";
  const auto bad = report.bad_files();
  for (size_t i = 0; i < bad.size(); ++i) std::cerr << (i ? ", " : "") << bad[i];
  std::cerr << "\n";
  return 1;
}

int zoo_export(Context& ctx, const std::vector<std::string>& rest) {
  Args args(rest, {"--member", "--epoch", "--out"}, {});
  if (args.help()) return std::cout << "usage:\n" << kZooToolsUsage, 0;
  const std::string dir = only_zoo(args, "export", kZooToolsUsage);
  HYPERREP_CHECK(args.has("--member") && args.has("--epoch"), UsageError, "zoo export needs --member I and --epoch E");
  const int64_t member = args.int_or("--member", -1);
  const int64_t epoch = args.int_or("--epoch", -1);
  const std::string out = args.required("--out");
  if (ctx.mpi.rank() != 0) return 0;
  const zoo::ZooReader reader(dir);
  const auto arch = zoo::Architecture::parse(reader.header().architecture, reader.header().input_shape);
  const torch::Tensor flat = reader.row(member, epoch);
  const zoo::NamedTensors sd = zoo::state_dict_from_flat(arch, flat);
  zoo::write_state_dict(out, sd);
  std::cout << "wrote " << out << ": member " << member << ", epoch " << epoch << "\n";
  for (const auto& [key, t] : sd) std::cout << "  " << key << " " << t.sizes() << "\n";
  return 0;
}

int zoo_import(Context& ctx, const std::vector<std::string>& rest) {
  Args args(rest, {"--from", "--out", "--config", "--input-shape"}, {});
  if (args.help()) return std::cout << "usage:\n" << kZooToolsUsage, 0;
  HYPERREP_CHECK(args.required("--from") == "modelzoo", UsageError, "zoo import --from supports 'modelzoo' only");
  HYPERREP_CHECK(args.positional().size() == 1, UsageError, "zoo import takes exactly one source DIR\nusage:\n", kZooToolsUsage);
  const std::string src = args.positional()[0], out = args.required("--out");
  const Config cfg = load_config_from(args);
  std::vector<int64_t> shape;
  if (auto s = args.value("--input-shape")) {
    std::stringstream ss(*s);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      try {
        shape.push_back(std::stoll(tok));
      } catch (const std::exception&) {
        HYPERREP_THROW(UsageError, "--input-shape expects integers like 1,28,28, got '", *s, "'");
      }
    }
  } else {
    shape = cfg.zoo.task == "tetris" ? std::vector<int64_t>{1, 4, 4} : std::vector<int64_t>{1, 28, 28};
  }
  if (ctx.mpi.rank() != 0) return 0;
  const zoo::ImportedZoo imported = zoo::import_modelzoo(src, cfg.zoo.architecture, shape);
  HYPERREP_CHECK(!imported.members.empty(), DataError, "no model folders in '", src, "'");
  zoo::ZooWriter writer(out, imported.header, 0);
  for (const auto& m : imported.members) {
    if (!writer.has_member(m.member)) writer.write_member(m);
  }
  dist::LocalCommunicator local;
  writer.finalize(local, static_cast<int64_t>(imported.members.size()));
  const zoo::ZooReader reader(out);
  std::cout << "imported " << reader.num_members() << " members, " << reader.num_checkpoints() << " checkpoints from " << src
            << " into " << out << " (content hash " << reader.content_hash() << ")\n";
  return 0;
}

}  // namespace hyperrep::cli
