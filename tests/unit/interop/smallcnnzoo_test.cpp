// Importing the public Small CNN Zoo layout. The fixture (tests/fixtures/make_smallcnnzoo_fixture.py)
// holds three runs trained with real PyTorch, written as the public files are (bias first,
// TensorFlow kernel order, Keras variable names), and the logits of every row computed by a plain
// numpy TensorFlow forward pass that does not share the importer's layout conversion.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/csv.h"
#include "common/error.h"
#include "common/fs.h"
#include "distributed/communicator.h"
#include "interop/npy.h"
#include "interop/smallcnnzoo.h"
#include "interop/torch_format.h"
#include "store/reader.h"
#include "store/store.h"
#include "tests/support/error_text.h"
#include "tests/support/temp_dir.h"
#include "zoo/architecture.h"

namespace hyperrep::interop {
namespace {

namespace fs = std::filesystem;
using testing::data_error_of;

const std::string kFixture = std::string(HYPERREP_SOURCE_DIR) + "/tests/fixtures/smallcnnzoo";
const std::vector<std::string> kPublished = {
    "conv(1,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "gap", "linear(16,10)"};

torch::Tensor read_matrix(const std::string& path) {
  const NpyMatrix m(path);
  auto t = torch::empty({m.rows(), m.cols()});
  for (int64_t r = 0; r < m.rows(); ++r) m.read_row(r, t[r].data_ptr<float>());
  return t;
}

// An .npy file of the given header version and dtype ("<f4" or "<f8"), bytes appended after the data.
void write_npy_as(const std::string& path, const torch::Tensor& m, int version, const std::string& dtype, int64_t extra = 0) {
  std::string header = "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (" + std::to_string(m.size(0)) + ", " +
                       std::to_string(m.size(1)) + "), }";
  const size_t pre = version == 1 ? 10 : 12;
  header.append((64 - (pre + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(version);
  out += '\0';
  for (size_t i = 0; i < pre - 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  out += header;
  auto data = dtype == "<f8" ? m.to(torch::kFloat64).contiguous() : m.to(torch::kFloat32).contiguous();
  out.append(static_cast<const char*>(data.data_ptr()), static_cast<size_t>(data.nbytes()));
  out.append(static_cast<size_t>(extra), '\0');
  write_file_atomic(path, out);
}

std::string read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  std::string text;
  char buf[4096];
  for (int n; (n = gzread(f, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return text;
}

void write_gz(const std::string& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

// A copy of the fixture to change.
struct Copy {
  testing::TempDir tmp{"hyperrep_scz"};
  fs::path dir = tmp / "in with space $(x)";
  fs::path out = tmp / "zoo";
  Copy() { fs::copy(kFixture, dir, fs::copy_options::recursive); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  SmallCnnZooImportResult import() const { return import_smallcnnzoo(dir.string(), out.string()); }
  std::string error() const {
    return data_error_of([&] { import(); });
  }
};

TEST(SmallCnnZooImport, LayoutGivesThePublishedNetwork) {
  const auto layout = read_smallcnnzoo_layout(kFixture + "/layout.csv", 4970);
  ASSERT_EQ(layout.size(), 8u);
  EXPECT_EQ(layout[1].varname, "sequential/conv2d/kernel:0");
  EXPECT_EQ(layout[1].shape, (std::vector<int64_t>{3, 3, 1, 16}));
  EXPECT_EQ(smallcnnzoo_architecture(layout), kPublished);
  EXPECT_EQ(smallcnnzoo_property_name("config.l2reg"), "l2");
  EXPECT_EQ(smallcnnzoo_property_name("config.learning_rate"), "lr");
  EXPECT_EQ(smallcnnzoo_property_name("config.w_init"), "init");
  EXPECT_EQ(smallcnnzoo_property_name("config.num_units"), "num_units");
  EXPECT_EQ(smallcnnzoo_property_name("something_else"), "something_else");
}

// The importer's rows, run through hyperrep's forward pass (PyTorch order, NCHW) and through the
// exported state_dict in torch::nn modules, give the logits numpy computed from the file's rows.
TEST(SmallCnnZooImport, ImportedMembersReproduceTheTensorFlowLogits) {
  Copy c;
  const auto result = c.import();
  EXPECT_EQ(result.members, 3);
  EXPECT_EQ(result.rows, 9);
  EXPECT_EQ(result.dropped_rows, 0);
  const store::ZooReader reader(c.out.string());
  ASSERT_EQ(reader.num_members(), 3);
  EXPECT_EQ(reader.header().architecture, kPublished);
  EXPECT_EQ(reader.header().input_shape, (std::vector<int64_t>{1, 28, 28}));
  const auto arch = zoo::Architecture::parse(kPublished, {1, 28, 28});
  const auto inputs = read_matrix(kFixture + "/inputs.npy").view({8, 1, 28, 28});
  const auto expected = read_matrix(kFixture + "/expected_logits.npy").view({3, 3, 8, 10});
  const auto& props = reader.properties();
  const int act_col = props.categorical_column("activation");
  ASSERT_GE(act_col, 0);
  namespace nn = torch::nn;
  for (int64_t m = 0; m < 3; ++m) {
    EXPECT_EQ(reader.member(m).epochs, (std::vector<int64_t>{0, 1, 2}));
    const std::string act = props.categorical[static_cast<size_t>(reader.global_row(m))][static_cast<size_t>(act_col)];
    for (int64_t k = 0; k < 3; ++k) {
      const auto row = reader.row(m, k);
      const auto got = zoo::functional_forward(arch, parse_enum<Activation>(act, "activation"), row, inputs);
      EXPECT_LT((got - expected[m][k]).abs().max().item<double>(), 2e-5) << "member " << m << " step " << k;
      // The export: keys of the nn.Sequential with AdaptiveAvgPool2d(1) + Flatten.
      const bool relu = act == "relu";
      auto a = [relu] { return nn::Functional([relu](torch::Tensor x) { return relu ? torch::relu(x) : torch::tanh(x); }); };
      nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 16, 3).stride(2)), a(),
                         nn::Conv2d(nn::Conv2dOptions(16, 16, 3).stride(2)), a(),
                         nn::Conv2d(nn::Conv2dOptions(16, 16, 3).stride(2)), a(),
                         nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)), nn::Flatten(), nn::Linear(16, 10));
      torch::NoGradGuard ng;
      auto params = net->named_parameters();
      for (const auto& [key, t] : state_dict_from_flat(arch, row)) params[key].copy_(t);
      EXPECT_LT((net->forward(inputs) - expected[m][k]).abs().max().item<double>(), 2e-5) << "exported member " << m;
    }
  }
  // Properties under hyperrep's names, per row.
  const auto num = [&](int64_t row, const std::string& name) {
    const int col = props.numeric_column(name);
    EXPECT_GE(col, 0) << name;
    return col < 0 ? std::nan("") : props.numeric[static_cast<size_t>(row)][static_cast<size_t>(col)];
  };
  const auto cat = [&](int64_t row, const std::string& name) {
    const int col = props.categorical_column(name);
    EXPECT_GE(col, 0) << name;
    return col < 0 ? std::string() : props.categorical[static_cast<size_t>(row)][static_cast<size_t>(col)];
  };
  const int64_t r = reader.global_row(2) + 2;  // run 1003, step 2
  EXPECT_EQ(cat(r, "run"), "trained_models/fashion_mnist/cnn/1003");
  EXPECT_EQ(cat(r, "activation"), "relu");
  EXPECT_EQ(cat(r, "init"), "RandomNormal");
  EXPECT_EQ(cat(r, "optimizer"), "rmsprop");
  EXPECT_EQ(cat(r, "dataset"), "fashion_mnist");
  EXPECT_DOUBLE_EQ(num(r, "lr"), 1e-3);
  EXPECT_DOUBLE_EQ(num(r, "l2"), 1e-3);
  EXPECT_DOUBLE_EQ(num(r, "dropout"), 0.2);
  EXPECT_DOUBLE_EQ(num(r, "train_fraction"), 0.25);
  EXPECT_DOUBLE_EQ(num(r, "seed"), 13);
  EXPECT_EQ(props.epoch[static_cast<size_t>(r)], 2);
  EXPECT_NEAR(num(r, "ggap"), num(r, "train_acc") - num(r, "test_acc"), 1e-15);
  // The file's own row 8 (run 1003, step 2): test_accuracy, train_accuracy and test_loss as written.
  const std::string metrics = read_gz(kFixture + "/metrics.csv.gz");
  const size_t at = metrics.find("\n8,") + 1;
  const auto fields = parse_csv_line(metrics.substr(at, metrics.find('\n', at) - at));
  ASSERT_EQ(fields.size(), 23u);
  EXPECT_DOUBLE_EQ(num(r, "test_acc"), std::stod(fields[3]));
  EXPECT_DOUBLE_EQ(num(r, "test_loss"), std::stod(fields[4]));
  EXPECT_DOUBLE_EQ(num(r, "train_acc"), std::stod(fields[5]));
}

// float64 weights, .npy versions 2 and 3, an unzipped metrics.csv: the same zoo, bit for bit.
TEST(SmallCnnZooImport, Float64VersionsAndPlainCsvGiveTheSameZoo) {
  Copy a;
  a.import();
  const std::string hash = store::ZooReader(a.out.string()).content_hash();
  const auto w = read_matrix(kFixture + "/weights.npy");
  for (int version : {2, 3}) {
    Copy b;
    write_npy_as(b.path("weights.npy"), w, version, "<f8");
    fs::remove(b.path("metrics.csv.gz"));
    write_file_atomic(b.path("metrics.csv"), read_gz(kFixture + "/metrics.csv.gz"));
    b.import();
    EXPECT_EQ(store::ZooReader(b.out.string()).content_hash(), hash) << "version " << version;
  }
}

TEST(SmallCnnZooImport, NonFiniteRowsAreDroppedAndCounted) {
  Copy c;
  auto w = read_matrix(kFixture + "/weights.npy");
  w[4][100] = std::nanf("");
  for (int k = 6; k < 9; ++k) w[k][7] = INFINITY;  // all of run 1003
  write_npy_as(c.path("weights.npy"), w, 1, "<f4");
  std::string metrics = read_gz(kFixture + "/metrics.csv.gz");
  const size_t row1 = metrics.find("\n1,") + 1, end = metrics.find('\n', row1);
  std::string line = metrics.substr(row1, end - row1);
  auto fields = parse_csv_line(line);
  fields[3] = "nan";  // test_accuracy
  std::string joined;
  for (const auto& f : fields) joined += (joined.empty() ? "" : ",") + f;
  metrics.replace(row1, end - row1, joined);
  write_gz(c.path("metrics.csv.gz"), metrics);
  const auto result = c.import();
  EXPECT_EQ(result.dropped_rows, 5);
  EXPECT_EQ(result.dropped_members, 1);
  EXPECT_EQ(result.members, 2);
  const store::ZooReader reader(c.out.string());
  EXPECT_EQ(reader.member(0).epochs, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(reader.member(1).epochs, (std::vector<int64_t>{0, 2}));
}

// Every damaged file is a DataError that names the file and what is wrong, in bounded memory.
TEST(SmallCnnZooImport, BadFilesNameFileRowOrVariable) {
  const auto w = read_matrix(kFixture + "/weights.npy");
  const std::string metrics = read_gz(kFixture + "/metrics.csv.gz");
  const std::string layout = read_file(kFixture + "/layout.csv");
  struct Case {
    const char* what;
    std::function<void(const Copy&)> damage;
    std::vector<std::string> want;
  };
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::vector<Case> cases = {
      {"truncated npy",
       [&](const Copy& c) {
         std::string bytes = read_file(c.path("weights.npy"));
         write_file_atomic(c.path("weights.npy"), bytes.substr(0, bytes.size() - 100));
       },
       {"weights.npy", "(truncated)"}},
      {"header smaller than the data",
       [&](const Copy& c) { write_npy_as(c.path("weights.npy"), w, 1, "<f4", 64); },
       {"weights.npy", "bytes past the data"}},
      {"unknown dtype",
       [&](const Copy& c) {
         write_file_atomic(c.path("weights.npy"), replace(read_file(c.path("weights.npy")), "'<f4'", "'<i4'"));
       },
       {"weights.npy", "dtype '<i4'"}},
      {"big-endian",
       [&](const Copy& c) {
         write_file_atomic(c.path("weights.npy"), replace(read_file(c.path("weights.npy")), "'<f4'", "'>f4'"));
       },
       {"dtype '>f4'"}},
      {"not npy", [&](const Copy& c) { write_file_atomic(c.path("weights.npy"), "hello"); }, {"weights.npy", "magic"}},
      {"layout with a gap",
       [&](const Copy& c) {
         write_file_atomic(c.path("layout.csv"), replace(layout, "conv2d_1/bias:0,160,176", "conv2d_1/bias:0,161,177"));
       },
       {"layout.csv", "does not tile the row"}},
      {"layout shape and size disagree",
       [&](const Copy& c) {
         write_file_atomic(c.path("layout.csv"), replace(layout, "\"(3, 3, 16, 16)\"", "\"(3, 3, 16, 15)\""));
       },
       {"layout.csv", "conv2d_1/kernel:0", "its shape holds 2160"}},
      {"layout shorter than the row",
       [&](const Copy& c) { write_file_atomic(c.path("layout.csv"), layout.substr(0, layout.find("sequential/dense/kernel"))); },
       {"cover 4810 values, weights.npy rows have 4970"}},
      {"wrong column count",
       [&](const Copy& c) { write_gz(c.path("metrics.csv.gz"), replace(metrics, "\n4,", "\n4,extra,")); },
       {"metrics.csv.gz' line 6", "24 fields, the header has 23"}},
      {"missing row",
       [&](const Copy& c) { write_gz(c.path("metrics.csv.gz"), metrics.substr(0, metrics.rfind("\n8,") + 1)); },
       {"has 8 rows", "weights.npy' has 9"}},
      {"missing column",
       [&](const Copy& c) { write_gz(c.path("metrics.csv.gz"), replace(metrics, ",modeldir,", ",run_dir,")); },
       {"lacks the column modeldir"}},
      {"step twice",
       [&](const Copy& c) { write_gz(c.path("metrics.csv.gz"), replace(metrics, "cnn/1001,1,", "cnn/1001,0,")); },
       {"step 0 twice"}},
      {"activation changes within a run",
       [&](const Copy& c) {
         std::string m = metrics;
         m.replace(m.find("tanh", m.find("cnn/1002,2,")), 4, "relu");
         write_gz(c.path("metrics.csv.gz"), m);
       },
       {"'config.activation' changes within run 'trained_models/fashion_mnist/cnn/1002'"}},
      {"truncated gzip",
       [&](const Copy& c) {
         std::string gz = read_file(c.path("metrics.csv.gz"));
         write_file_atomic(c.path("metrics.csv.gz"), gz.substr(0, gz.size() / 2));
       },
       {"metrics.csv.gz", "truncated"}},
      {"gzip bomb: one 64 MiB line",
       [&](const Copy& c) { write_gz(c.path("metrics.csv.gz"), std::string(64 << 20, 'a')); },
       {"metrics.csv.gz' line 1 is longer than"}},
      {"gzip bomb: endless newlines",
       [&](const Copy& c) { write_gz(c.path("metrics.csv.gz"), metrics + std::string(32 << 20, '\n')); },
       {"more lines than weights.npy has rows"}},
  };
  for (const auto& k : cases) {
    Copy c;
    k.damage(c);
    const std::string e = c.error();
    for (const auto& want : k.want) EXPECT_NE(e.find(want), std::string::npos) << k.what << ": " << e;
    EXPECT_FALSE(fs::exists(c.out / "manifest")) << k.what;
  }
}

// The export writes what the field's loaders read: the fixture's own layout.csv, byte for byte, and
// its weight rows; importing the export gives the same zoo back.
TEST(SmallCnnZooExport, ExportOfAnImportIsThePublishedLayoutAndImportsBack) {
  Copy c;
  c.import();
  const store::ZooReader a(c.out.string());
  const fs::path exported = c.tmp / "exported";
  const auto result = export_smallcnnzoo(c.out.string(), exported.string());
  EXPECT_EQ(result.members, 3);
  EXPECT_EQ(result.rows, 9);
  std::string published = read_file(kFixture + "/layout.csv");  // Python's csv module ends lines in \r\n
  published.erase(std::remove(published.begin(), published.end(), '\r'), published.end());
  EXPECT_EQ(read_file((exported / "layout.csv").string()), published);
  EXPECT_TRUE(torch::equal(read_matrix((exported / "weights.npy").string()), read_matrix(kFixture + "/weights.npy")));
  const std::string header = read_gz((exported / "metrics.csv.gz").string());
  EXPECT_EQ(header.rfind(",modeldir,step,test_accuracy,test_loss,train_accuracy,train_loss,", 0), 0u) << header.substr(0, 200);
  for (const char* column : {",config.learning_rate,", ",config.l2reg,", ",config.dropout,", ",config.train_fraction,",
                             ",config.w_init,", ",config.activation,", ",config.optimizer,", ",config.random_seed,"})
    EXPECT_NE(header.substr(0, header.find('\n')).find(column), std::string::npos) << column;
  const fs::path back = c.tmp / "back";
  import_smallcnnzoo(exported.string(), back.string());
  const store::ZooReader b(back.string());
  EXPECT_EQ(b.content_hash(), a.content_hash());
  EXPECT_EQ(b.header().architecture, a.header().architecture);
  EXPECT_EQ(b.header().numeric_properties, a.header().numeric_properties);
  EXPECT_EQ(b.header().categorical_properties, a.header().categorical_properties);
  const auto &pa = a.properties(), &pb = b.properties();
  ASSERT_EQ(pa.rows(), pb.rows());
  for (int64_t r = 0; r < pa.rows(); ++r) {
    const auto row = static_cast<size_t>(r);
    EXPECT_EQ(pa.categorical[row], pb.categorical[row]);
    for (size_t k = 0; k < pa.numeric[row].size(); ++k) EXPECT_DOUBLE_EQ(pa.numeric[row][k], pb.numeric[row][k]) << k;
  }
  // The export does not overwrite.
  EXPECT_THROW(export_smallcnnzoo(c.out.string(), exported.string()), UsageError);
}

// A zoo of another architecture (stride 1, max-pooling: not what the layout alone describes)
// and generated property names: the export records hyperrep's layer specs beside layout.csv, and
// the round trip keeps architecture, weights and properties.
TEST(SmallCnnZooExport, OtherArchitecturesAndGeneratedPropertiesRoundTrip) {
  testing::TempDir tmp("hyperrep_scz_rt");
  store::ZooHeader h;
  h.architecture = {"conv(1,2,3)", "maxpool(2)", "act", "flatten", "linear(18,3)"};
  h.input_shape = {1, 8, 8};
  h.num_params = 77;
  h.task = "unit";
  h.numeric_properties = {"test_acc", "train_acc", "val_acc", "test_loss",    "train_loss", "ggap",
                          "epoch",    "seed",      "lr",      "weight_decay", "dropout"};
  h.categorical_properties = {"activation", "init", "optimizer"};
  const std::string zoo = tmp / "zoo";
  {
    store::ZooWriter w(zoo, h, 0);
    for (int64_t m = 0; m < 3; ++m) {
      store::MemberRecord r;
      r.member = m;
      r.epochs = {0, 4};
      r.weights = torch::randn({2, 77});
      for (int64_t e : r.epochs) {
        const double t = 0.1 * m + 0.01 * e + 1.0 / 3;
        r.numeric.push_back({{"test_acc", t},
                             {"train_acc", t + 0.05},
                             {"val_acc", t},
                             {"test_loss", 1.0 / (1 + e)},
                             {"train_loss", 0.5},
                             {"ggap", 0.05},
                             {"epoch", double(e)},
                             {"seed", double(m)},
                             {"lr", 1e-3 * (m + 1)},
                             {"weight_decay", 1e-4},
                             {"dropout", 0.0}});
      }
      r.categorical = {{"activation", m ? "relu" : "tanh, \"scaled\""}, {"init", "uniform"}, {"optimizer", "adam"}};
      w.write_member(r);
    }
    dist::LocalCommunicator local;
    w.finalize(local, 3);
  }
  const fs::path exported = tmp / "out";
  export_smallcnnzoo(zoo, exported.string());
  EXPECT_NE(read_file((exported / "layout.csv").string()).find("sequential/dense/kernel:0,23,77,\"(18, 3)\""), std::string::npos);
  const fs::path back = tmp / "back";
  const auto result = import_smallcnnzoo(exported.string(), back.string());
  EXPECT_EQ(result.architecture, h.architecture);
  const store::ZooReader a(zoo), b(back.string());
  EXPECT_EQ(b.content_hash(), a.content_hash());
  EXPECT_EQ(b.header().input_shape, h.input_shape);
  const auto &pa = a.properties(), &pb = b.properties();
  for (const std::string name :
       {"test_acc", "train_acc", "val_acc", "test_loss", "train_loss", "ggap", "seed", "lr", "weight_decay", "dropout"}) {
    const int ca = pa.numeric_column(name), cb = pb.numeric_column(name);
    ASSERT_GE(cb, 0) << name;
    for (int64_t r = 0; r < pa.rows(); ++r)
      EXPECT_NEAR(pa.numeric[static_cast<size_t>(r)][static_cast<size_t>(ca)],
                  pb.numeric[static_cast<size_t>(r)][static_cast<size_t>(cb)], 1e-15)
          << name;
  }
  const int act = pb.categorical_column("activation");
  ASSERT_GE(act, 0);
  EXPECT_EQ(pb.categorical[0][static_cast<size_t>(act)], "tanh, \"scaled\"");
  EXPECT_EQ(pb.categorical[static_cast<size_t>(pb.rows() - 1)][static_cast<size_t>(pb.categorical_column("run"))],
            "member_000002");
}

}  // namespace
}  // namespace hyperrep::interop
