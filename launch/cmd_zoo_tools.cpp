// hyperrep zoo info|verify|export|import: inspect, check, export and import zoo stores. Rank 0
// does the work (under mpirun the other ranks return at once).
#include "launch/cmd_zoo_tools.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>

#include "common/config.h"
#include "common/json.h"
#include "data/zoo_dataset.h"
#include "interop/modelzoo_import.h"
#include "interop/nfn_split.h"
#include "interop/smallcnnzoo.h"
#include "interop/torch_format.h"
#include "launch/args.h"
#include "store/reader.h"
#include "store/summary.h"
#include "tasks/image_data.h"
#include "zoo/architecture.h"

namespace hyperrep::cli {

const char* const kZooToolsUsage = R"(  info ZOO [--json] [--config FILE] [--set section.key=value]...
      Members, checkpoints, parameters per member, architecture, the member split of [data]
      (fractions and seed from --config, else the defaults), numeric property ranges,
      categories (members per value) and a content hash over all weights in member order.
  verify ZOO
      Recompute the checksum of every shard and of properties.csv; exit 1 naming bad files.
  export ZOO --member I --epoch E --out FILE.pt
      Write one checkpoint as a PyTorch state_dict (keys of the equivalent nn.Sequential).
  export ZOO --format smallcnnzoo --out DIR
      Write the whole zoo in the Small CNN Zoo layout (weights.npy, layout.csv, metrics.csv.gz
      with the published column names), which the field's loaders read; importing it back
      gives the same content hash.
  import --from modelzoo DIR --out ZOO [--config FILE] [--input-shape C,H,W]
      Import a directory of the public "Model Zoos" dataset; the members' architecture is the
      config's zoo.architecture, the input shape is --input-shape or that of zoo.task
      (tetris 1,4,4; fashion_mnist and idx 1,28,28).
  import --from smallcnnzoo DIR --out ZOO [--input-shape C,H,W]
      Import one dataset of the public Small CNN Zoo (weights.npy, layout.csv, metrics.csv.gz
      or metrics.csv): members are the runs (modeldir), checkpoints their steps; the
      architecture comes from layout.csv, the input shape from config.dataset (mnist and
      fashion_mnist 1,28,28; cifar10 and svhn_cropped 1,32,32) unless --input-shape is given.
      Rows with non-finite weights or metrics are dropped and counted. Property names:
      docs/export.md.
  split --from nfn INDICES --source DIR --out SPLIT.csv [--final-step 86]
      Convert a published split file of the generalisation benchmark (NFN's
      predict_gen_data_splits/<dataset>_split.csv: row indices into DIR's weights.npy and
      metrics) into a data.split_file of runs: the final-step rows in the file's order, the
      second half test, the first half shuffled as Python's random.Random(0) does and cut
      80/20 into train and val. --final-step: the step of the final rows (86 published; the
      last epoch for a zoo that hyperrep exported).
)";

namespace {

std::string only_zoo(const Args& args, const char* verb, const char* usage) {
  HYPERREP_CHECK(args.positional().size() == 1, UsageError, "zoo ", verb, " takes exactly one ZOO directory\nusage:\n", usage);
  return args.positional()[0];
}

}  // namespace

int zoo_info(Context& ctx, const std::vector<std::string>& rest) {
  Args args(rest, {"--config"}, {"--json"});
  if (args.help()) return std::cout << "usage:\n" << kZooToolsUsage, 0;
  const std::string dir = only_zoo(args, "info", kZooToolsUsage);
  const Config cfg = load_config_from(args);
  if (ctx.mpi.rank() != 0) return 0;
  const store::ZooReader reader(dir);
  const store::ZooHeader& h = reader.header();
  const store::PropertyTable& props = reader.properties();
  const data::MemberSplit split = data::member_split(cfg.data, reader);

  const store::ZooSummary sum = store::summarize_zoo(reader);
  const auto& ranges = sum.numeric;
  const auto& categories = sum.categories;
  const std::string hash = reader.content_hash();

  if (args.has("--json")) {
    JsonWriter w(/*pretty=*/true);
    auto list = [&w](const auto& values) {
      w.begin_array();
      for (const auto& v : values) w.value(v);
      w.end_array();
    };
    w.begin_object().key("zoo").value(dir).key("task").value(h.task);
    w.key("members").value(reader.num_members()).key("checkpoints").value(reader.num_checkpoints());
    w.key("checkpoints_per_member").begin_array().value(sum.min_rows).value(sum.max_rows).end_array();
    w.key("epochs").begin_array().value(sum.min_epoch).value(sum.max_epoch).end_array();
    w.key("parameters_per_member").value(h.num_params);
    w.key("architecture");
    list(h.architecture);
    w.key("input_shape");
    list(h.input_shape);
    w.key("shards").value(static_cast<int64_t>(reader.manifest().shards.size())).key("shard_bytes").value(sum.shard_bytes);
    w.key("split").begin_object().key("fractions");
    list(cfg.data.split);
    w.key("seed").value(static_cast<int64_t>(cfg.data.split_seed));
    w.key("train").value(static_cast<int64_t>(split.train.size())).key("val").value(static_cast<int64_t>(split.val.size()));
    w.key("test").value(static_cast<int64_t>(split.test.size())).end_object();
    w.key("numeric").begin_object();
    for (size_t c = 0; c < ranges.size(); ++c) {
      w.key(props.numeric_names[c]).begin_object();
      // No finite value: min and max are null (min > max marks it).
      if (ranges[c].min <= ranges[c].max) w.key("min").value(ranges[c].min).key("max").value(ranges[c].max);
      else w.key("min").null().key("max").null();
      w.key("non_finite").value(ranges[c].non_finite).end_object();
    }
    w.end_object().key("categorical").begin_object();
    for (size_t c = 0; c < categories.size(); ++c) {
      w.key(props.categorical_names[c]).begin_object();
      for (const auto& [value, count] : categories[c]) w.key(value).value(count);
      w.end_object();
    }
    w.end_object().key("content_hash").value(hash).end_object();
    std::cout << w.str() << "\n";
    return 0;
  }
  std::ostringstream os;
  os << "zoo           " << dir << "\ntask          " << h.task << "\nmembers       " << reader.num_members()
     << "\ncheckpoints   " << reader.num_checkpoints() << " (" << sum.min_rows;
  if (sum.max_rows != sum.min_rows) os << ".." << sum.max_rows;
  os << " per member, epochs " << sum.min_epoch << ".." << sum.max_epoch << ")\nparameters    " << h.num_params
     << " per member\narchitecture  ";
  for (size_t i = 0; i < h.architecture.size(); ++i) os << (i ? ", " : "") << h.architecture[i];
  os << "  (input";
  for (auto d : h.input_shape) os << " " << d;
  os << ")\nshards        " << reader.manifest().shards.size() << " (" << sum.shard_bytes << " bytes)\nsplit         train "
     << split.train.size() << ", val " << split.val.size() << ", test " << split.test.size() << " members (";
  if (cfg.data.split_file.empty()) {
    os << "fractions " << cfg.data.split[0] << "/" << cfg.data.split[1] << "/" << cfg.data.split[2] << ", seed "
       << cfg.data.split_seed << ")\n";
  } else {
    os << "split file " << cfg.data.split_file << ")\n";
  }
  // Names padded to one column, at least one space after the longest.
  size_t width = 13;
  for (const auto& n : props.numeric_names) width = std::max(width, n.size());
  for (const auto& n : props.categorical_names) width = std::max(width, n.size());
  const auto name_cell = [&](const std::string& n) { return "  " + n + std::string(width + 1 - n.size(), ' '); };
  os << "numeric properties (min .. max over checkpoints)\n";
  for (size_t c = 0; c < ranges.size(); ++c) {
    os << name_cell(props.numeric_names[c]);
    if (ranges[c].min <= ranges[c].max) os << format_double(ranges[c].min) << " .. " << format_double(ranges[c].max);
    else os << "-";
    if (ranges[c].non_finite) os << "  (" << ranges[c].non_finite << " non-finite)";
    os << "\n";
  }
  os << "categorical properties (members per value)\n";
  for (size_t c = 0; c < categories.size(); ++c) {
    os << name_cell(props.categorical_names[c]);
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
  const store::VerifyReport report = store::verify_zoo(dir);
  for (const auto& f : report.files) std::cout << (f.ok ? "ok   " : "BAD  ") << f.path << (f.ok ? "" : ": " + f.problem) << "\n";
  if (report.ok()) {
    store::ZooReader(dir).properties();  // checksums can match while the CSV disagrees with the index
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
  Args args(rest, {"--member", "--epoch", "--out", "--format"}, {});
  if (args.help()) return std::cout << "usage:\n" << kZooToolsUsage, 0;
  const std::string dir = only_zoo(args, "export", kZooToolsUsage);
  if (auto format = args.value("--format")) {
    HYPERREP_CHECK(*format == "smallcnnzoo", UsageError, "zoo export --format takes smallcnnzoo, not '", *format, "'");
    HYPERREP_CHECK(!args.has("--member") && !args.has("--epoch"), UsageError,
                   "zoo export --format smallcnnzoo writes the whole zoo: no --member or --epoch");
    const std::string out = args.required("--out");
    if (ctx.mpi.rank() != 0) return 0;
    const auto result = interop::export_smallcnnzoo(dir, out);
    std::cout << "wrote " << out << ": " << result.members << " members, " << result.rows
              << " rows in the Small CNN Zoo layout (weights.npy, layout.csv, metrics.csv.gz)\n";
    return 0;
  }
  HYPERREP_CHECK(args.has("--member") && args.has("--epoch"), UsageError, "zoo export needs --member I and --epoch E");
  const int64_t member = args.int_or("--member", -1);
  const int64_t epoch = args.int_or("--epoch", -1);
  const std::string out = args.required("--out");
  if (ctx.mpi.rank() != 0) return 0;
  const store::ZooReader reader(dir);
  const auto arch = zoo::Architecture::parse(reader.header().architecture, reader.header().input_shape);
  const torch::Tensor flat = reader.row(member, epoch);
  const interop::NamedTensors sd = interop::state_dict_from_flat(arch, flat);
  interop::write_state_dict(out, sd);
  std::cout << "wrote " << out << ": member " << member << ", epoch " << epoch << "\n";
  for (const auto& [key, t] : sd) std::cout << "  " << key << " " << t.sizes() << "\n";
  return 0;
}

int zoo_import(Context& ctx, const std::vector<std::string>& rest) {
  Args args(rest, {"--from", "--out", "--config", "--input-shape"}, {});
  if (args.help()) return std::cout << "usage:\n" << kZooToolsUsage, 0;
  const std::string from = args.required("--from");
  HYPERREP_CHECK(from == "modelzoo" || from == "smallcnnzoo", UsageError,
                 "zoo import --from takes modelzoo or smallcnnzoo, not '", from, "'");
  HYPERREP_CHECK(args.positional().size() == 1, UsageError, "zoo import takes exactly one source DIR\nusage:\n", kZooToolsUsage);
  const std::string src = args.positional()[0], out = args.required("--out");
  std::vector<int64_t> shape;
  if (auto s = args.value("--input-shape")) {
    std::stringstream ss(*s);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      size_t used = 0;
      int64_t v = 0;
      try {
        v = std::stoll(tok, &used);
      } catch (const std::exception&) {}
      HYPERREP_CHECK(used == tok.size() && v >= 1 && v <= (int64_t{1} << 16), UsageError,
                     "--input-shape expects positive integers like 1,28,28, got '", *s, "'");
      shape.push_back(v);
    }
  }
  if (from == "smallcnnzoo") {
    HYPERREP_CHECK(!args.has("--config"), UsageError,
                   "zoo import --from smallcnnzoo reads the architecture from layout.csv; it takes no --config");
    if (ctx.mpi.rank() != 0) return 0;
    interop::SmallCnnZooImportOptions opt;
    opt.input_shape = shape;
    const auto result = interop::import_smallcnnzoo(src, out, opt);
    const store::ZooReader reader(out);
    std::cout << "imported " << reader.num_members() << " members, " << reader.num_checkpoints() << " checkpoints from " << src
              << " into " << out << " (content hash " << reader.content_hash() << "); dropped " << result.dropped_rows
              << " rows with non-finite weights or metrics\n";
    return 0;
  }
  const Config cfg = load_config_from(args);
  if (shape.empty()) shape = tasks::task_input_shape(parse_enum<Task>(cfg.zoo.task, "zoo.task"));
  if (ctx.mpi.rank() != 0) return 0;
  const interop::ImportedZoo imported = interop::import_modelzoo(src, cfg.zoo.architecture, shape);
  HYPERREP_CHECK(!imported.members.empty(), DataError, "no model folders in '", src, "'");
  store::ZooWriter writer(out, imported.header, 0);
  for (const auto& m : imported.members) {
    if (!writer.has_member(m.member)) writer.write_member(m);
  }
  dist::LocalCommunicator local;
  writer.finalize(local, static_cast<int64_t>(imported.members.size()));
  const store::ZooReader reader(out);
  std::cout << "imported " << reader.num_members() << " members, " << reader.num_checkpoints() << " checkpoints from " << src
            << " into " << out << " (content hash " << reader.content_hash() << ")\n";
  return 0;
}

int zoo_split(Context& ctx, const std::vector<std::string>& rest) {
  Args args(rest, {"--from", "--source", "--out", "--final-step"}, {});
  if (args.help()) return std::cout << "usage:\n" << kZooToolsUsage, 0;
  const std::string from = args.required("--from");
  HYPERREP_CHECK(from == "nfn", UsageError, "zoo split --from takes nfn (the generalisation benchmark's split files), not '",
                 from, "'");
  HYPERREP_CHECK(args.positional().size() == 1, UsageError, "zoo split takes exactly one INDICES file\nusage:\n", kZooToolsUsage);
  if (ctx.mpi.rank() != 0) return 0;
  const std::string out = args.required("--out");
  const int64_t final_step = args.int_or("--final-step", 86);
  HYPERREP_CHECK(final_step >= 0, UsageError, "--final-step expects a step like 86, got ", final_step);
  const auto r = interop::convert_nfn_split(args.positional()[0], args.required("--source"), out, final_step);
  std::cout << "wrote " << out << ": " << r.final_rows << " runs of " << r.rows << " rows (final step " << final_step
            << "): " << r.train << " train, " << r.val << " val, " << r.test << " test; use it with --set data.split_file=" << out
            << "\n";
  return 0;
}

}  // namespace hyperrep::cli
