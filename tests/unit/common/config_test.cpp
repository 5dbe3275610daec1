// Config parsing: types, ranges, enums, unknown keys with suggestions, line numbers, --set,
// round trip through to_toml, and the science hash.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "common/config.h"
#include "common/layer_spec.h"
#include "tests/support/temp_dir.h"

namespace hyperrep {
namespace {

std::vector<ConfigIssue> parse(const std::string& text, const std::vector<std::string>& sets = {}) {
  Config cfg;
  return parse_config(text, "test.toml", sets, cfg);
}

// Every issue as "source:line: key: message", one per line.
std::string all_text(const std::vector<ConfigIssue>& issues) {
  std::string all;
  for (const auto& i : issues) all += i.str() + "\n";
  return all;
}

TEST(Config, DefaultsAreValid) {
  Config cfg;
  EXPECT_TRUE(parse_config("", "<defaults>", {}, cfg).empty());
  EXPECT_EQ(cfg.train.batch_size, 500);
  EXPECT_EQ(cfg.probe.lambdas.size(), 17u);
}

TEST(Config, ReadsTypedValues) {
  Config cfg;
  auto issues = parse_config(
      "[train]\nlr = 0.001\nbatch_size = 64\n[augment]\npermutation = false\n"
      "[zoo]\nlr = [1e-3, 1]\nactivation = [\"relu\", \"gelu\"]\n",
      "t", {}, cfg);
  ASSERT_TRUE(issues.empty()) << issues[0].str();
  EXPECT_DOUBLE_EQ(cfg.train.lr, 0.001);
  EXPECT_EQ(cfg.train.batch_size, 64);
  EXPECT_FALSE(cfg.augment.permutation);
  EXPECT_EQ(cfg.zoo.lr, (std::vector<double>{1e-3, 1.0}));  // integer accepted for floats
  EXPECT_EQ(cfg.zoo.activation, (std::vector<std::string>{"relu", "gelu"}));
}

TEST(Config, ThreeMistakesGiveThreeErrorsWithKeysAndLines) {
  const std::string text =
      "[run]\nname = \"x\"\n"
      "[train]\n"
      "batchsize = 32\n"                    // line 4: unknown key
      "lr = \"fast\"\n"                     // line 5: wrong type
      "epochs = 0\n"                        // line 6: out of range
      "[loss]\nreconstruction = \"l1\"\n";  // line 8: bad enum
  auto issues = parse(text);
  ASSERT_EQ(issues.size(), 4u);
  EXPECT_EQ(issues[0].key, "train.batchsize");
  EXPECT_EQ(issues[0].line, 4);
  EXPECT_NE(issues[0].message.find("did you mean train.batch_size"), std::string::npos) << issues[0].message;
  EXPECT_EQ(issues[1].key, "train.lr");
  EXPECT_EQ(issues[1].line, 5);
  EXPECT_NE(issues[1].message.find("expected a number, got a string"), std::string::npos) << issues[1].message;
  EXPECT_EQ(issues[2].key, "train.epochs");
  EXPECT_EQ(issues[2].line, 6);
  EXPECT_NE(issues[2].message.find("out of range"), std::string::npos);
  EXPECT_EQ(issues[3].key, "loss.reconstruction");
  EXPECT_EQ(issues[3].line, 8);
  EXPECT_NE(issues[3].message.find("not one of: mse, layer_norm"), std::string::npos) << issues[3].message;
  EXPECT_EQ(issues[3].str(), "test.toml:8: loss.reconstruction: " + issues[3].message);
}

TEST(Config, UnknownSectionIsSuggested) {
  auto issues = parse("[trian]\nlr = 1.0\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("did you mean [train]"), std::string::npos) << issues[0].message;
}

TEST(Config, ListElementsAreCheckedOneByOne) {
  auto issues = parse("[zoo]\nlr = [0.1, -1.0]\ninit = [\"uniform\", \"zeros\"]\nkeep_epochs = [1, 2.5]\n");
  ASSERT_EQ(issues.size(), 3u);
  EXPECT_NE(issues[0].message.find("element 1"), std::string::npos);
  EXPECT_NE(issues[1].message.find("'zeros' is not one of"), std::string::npos);
  EXPECT_NE(issues[2].message.find("element 1: expected an integer, got a float"), std::string::npos) << issues[2].message;
}

TEST(Config, SectionRulesAndCustomChecks) {
  auto issues =
      parse("[model]\nd_model = 10\nheads = 4\n[data]\nsplit = [0.5, 0.5, 0.5]\n[zoo]\narchitecture = [\"conv(1,8)\"]\n");
  ASSERT_EQ(issues.size(), 3u);
  const std::string all = all_text(issues);
  EXPECT_NE(all.find("data.split: fractions must sum to 1"), std::string::npos) << all;
  EXPECT_NE(all.find("zoo.architecture: bad layer 'conv(1,8)'"), std::string::npos) << all;
  EXPECT_NE(all.find("model.heads: must divide model.d_model"), std::string::npos) << all;
  issues = parse("[model]\ntokenizer = \"padded\"\ntoken_scale = true\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].str().find("model.token_scale: needs model.tokenizer = \"neuron\""), std::string::npos) << issues[0].str();
  EXPECT_TRUE(parse("[model]\ntoken_scale = true\n").empty());
}

TEST(Config, SetOverridesAreTypedAndValidated) {
  Config cfg;
  auto ok = parse_config("[train]\nlr = 0.1\n", "t",
                         {"train.lr=0.5", "run.device=cpu", "zoo.seed_offset=7", "zoo.activation=relu"}, cfg);
  ASSERT_TRUE(ok.empty()) << ok[0].str();
  EXPECT_DOUBLE_EQ(cfg.train.lr, 0.5);
  EXPECT_EQ(cfg.run.device, "cpu");
  EXPECT_EQ(cfg.zoo.seed_offset, 7);
  EXPECT_EQ(cfg.zoo.activation, std::vector<std::string>{"relu"});
  auto bad = parse("", {"train.batch_size=0", "train.batchsize=3", "run.device=tpu", "nodot"});
  ASSERT_EQ(bad.size(), 4u);
  EXPECT_EQ(bad[0].source, "--set");
  EXPECT_EQ(bad[0].key, "train.batch_size");
  EXPECT_NE(bad[1].message.find("did you mean train.batch_size"), std::string::npos);
  EXPECT_NE(bad[2].message.find("'tpu' is not one of"), std::string::npos);
  EXPECT_NE(bad[3].message.find("expected section.key=value"), std::string::npos);
}

TEST(Config, SyntaxErrorNamesTheLine) {
  auto issues = parse("[train]\nlr = = 3\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 2);
  EXPECT_NE(issues[0].message.find("TOML syntax"), std::string::npos);
}

TEST(Config, TomlRoundTripPreservesEveryValue) {
  Config a;
  ASSERT_TRUE(
      parse_config("[train]\nlr = 0.1\n[loss]\ngamma = 0.3333333333333333\n[zoo]\nlr = [3e-4, 1e-3]\n", "t", {}, a).empty());
  Config b;
  auto issues = parse_config(to_toml(a, true), "roundtrip", {}, b);
  ASSERT_TRUE(issues.empty()) << issues[0].str();
  EXPECT_EQ(to_toml(a), to_toml(b));
  EXPECT_DOUBLE_EQ(b.loss.gamma, 0.3333333333333333);
  EXPECT_EQ(science_hash(a), science_hash(b));
}

TEST(Config, ScienceHashIgnoresOperationalKeys) {
  Config a, b, c;
  b.run.dir = "elsewhere";
  b.distributed.bucket_mb = 1;
  c.train.lr = 2e-4;
  EXPECT_EQ(science_hash(a), science_hash(b));
  EXPECT_NE(science_hash(a), science_hash(c));
  auto diff = science_diff(a, c);
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_EQ(diff[0], "train.lr: 0.0001 vs 0.0002");
  EXPECT_EQ(config_get(c, "train.lr"), "0.0002");
  EXPECT_THROW(config_get(c, "train.lrr"), ConfigError);
}

TEST(Config, LoadConfigThrowsWithEveryIssue) {
  try {
    load_config("", {"train.lr=-1", "train.epochs=0"});
    FAIL() << "expected ConfigErrors";
  } catch (const ConfigErrors& e) {
    EXPECT_EQ(e.issues().size(), 2u);
    EXPECT_EQ(e.exit_code(), 2);
  }
  EXPECT_THROW(load_config("/nonexistent/file.toml"), ConfigError);
}

// A --set value is one TOML value: a line break followed by a section and keys is refused and
// sets nothing (it used to be pasted into TOML text and set train.epochs).
TEST(Config, SetValueIsOneTomlValueNothingMore) {
  Config cfg;
  auto issues = parse_config("", "t", {"zoo.num_seeds=5\n[train]\nepochs=999"}, cfg);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key, "zoo.num_seeds");
  EXPECT_NE(issues[0].str().find("is not a single TOML value"), std::string::npos) << issues[0].str();
  EXPECT_EQ(cfg.train.epochs, Config().train.epochs);
  issues = parse_config("", "t", {"train.lr=0.5 \n train.epochs = 3"}, cfg);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(cfg.train.epochs, Config().train.epochs);
  // A string field takes any text as a bare word, line breaks and quotes included: it is a path.
  Config paths;
  ASSERT_TRUE(parse_config("", "t", {"run.dir=out/a'b\n[train]\nepochs=999"}, paths).empty());
  EXPECT_EQ(paths.run.dir, "out/a'b\n[train]\nepochs=999");
  EXPECT_EQ(paths.train.epochs, Config().train.epochs);
}

TEST(Config, DirectoryOrSpecialFileIsNotAConfig) {
  {
    const testing::TempDir dir("hyperrep_cfgdir");
    try {
      load_config(dir.path());
      FAIL() << "a directory was read as a config";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
    }
  }
  try {
    load_config("/dev/zero");  // would never end if read to its end
    FAIL() << "a device was read as a config";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("character device"), std::string::npos) << e.what();
  }
}

// Rules across keys are placed at the line of the key they name (or at --set).
TEST(Config, CrossKeyRulesNameTheLine) {
  auto issues = parse("[run]\nname = \"x\"\n[model]\nd_model = 10\nheads = 4\n[augment]\nerase_max = 0.1\nerase_min = 0.2\n");
  ASSERT_EQ(issues.size(), 2u);
  const std::string all = all_text(issues);
  EXPECT_NE(all.find("test.toml:5: model.heads: must divide model.d_model"), std::string::npos) << all;
  EXPECT_NE(all.find("test.toml:8: augment.erase_min: must not exceed augment.erase_max"), std::string::npos) << all;
  issues = parse("[model]\ntokenizer = \"padded\"\n", {"model.token_scale=true"});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].str().rfind("--set: model.token_scale: needs", 0), 0u) << issues[0].str();
}

TEST(Config, LayerGrammarIsOneParser) {
  const LayerSpec conv = parse_layer_spec(" conv( 1, 8 ,5, nobias ) ");
  EXPECT_EQ(conv.name, "conv");
  EXPECT_EQ(conv.ints, (std::vector<int64_t>{1, 8, 5}));
  EXPECT_FALSE(conv.bias);
  EXPECT_TRUE(parse_layer_spec("linear(36,20)").bias);
  EXPECT_EQ(parse_layer_spec("flatten").ints.size(), 0u);
  EXPECT_EQ(conv.stride, 1);
  EXPECT_EQ(conv.padding, 0);
  const LayerSpec strided = parse_layer_spec("conv(1,16,3,stride=2)");
  EXPECT_EQ(strided.ints, (std::vector<int64_t>{1, 16, 3}));
  EXPECT_EQ(strided.stride, 2);
  EXPECT_EQ(strided.padding, 0);
  EXPECT_TRUE(strided.bias);
  // Options and the flag in any order; same = (k-1)/2 symmetric zeros; valid = none.
  const LayerSpec same = parse_layer_spec("conv(4,8,5, nobias, padding = same)");
  EXPECT_EQ(same.padding, 2);
  EXPECT_FALSE(same.bias);
  EXPECT_EQ(parse_layer_spec("conv(4,8,3,padding=valid,stride=3)").padding, 0);
  EXPECT_EQ(parse_layer_spec("conv(4,8,3,padding=valid,stride=3)").stride, 3);
  EXPECT_EQ(parse_layer_spec("conv(4,8,3,padding=4)").padding, 4);
  EXPECT_EQ(parse_layer_spec("gap").name, "gap");
  for (const char* bad : {"linear(5,0)",
                          "linear(5)",
                          "linear(5,3,4)",
                          "conv(1,8)",
                          "maxpool(2,2)",
                          "act(1)",
                          "foo",
                          "linear(5,-3)",
                          "linear(5,3,bias)",
                          "maxpool(nobias)",
                          "linear(5,99999999999)",
                          "conv(1,8,5))",
                          "conv(1,8,3,stride=0)",
                          "conv(1,8,3,stride=2,stride=2)",
                          "conv(1,8,4,padding=same)",
                          "conv(1,8,3,stride=2,padding=same)",
                          "conv(1,8,3,padding=full)",
                          "conv(1,8,3,padding=-1)",
                          "conv(1,8,3,dilation=2)",
                          "linear(5,3,stride=2)",
                          "gap(2)",
                          "maxpool(2,stride=2)",
                          "conv(1,8,3,nobias,nobias)",
                          "conv(1,8,stride=2)",
                          "conv(1,8,3,padding=)"}) {
    EXPECT_THROW(parse_layer_spec(bad), ConfigError) << bad;
    Config cfg;
    auto issues = parse_config("[zoo]\narchitecture = [\"flatten\", \"" + std::string(bad) + "\"]\n", "t", {}, cfg);
    ASSERT_EQ(issues.size(), 1u) << bad;
    EXPECT_EQ(issues[0].line, 2) << bad;
  }
}

// `hyperrep train --config configs/quickstart.toml` after `hyperrep run` trains on the zoo that
// config made: data.zoo follows zoo.path unless the config (or --set) names its own.
// Every config the project ships parses without an issue (a renamed key or a wrong value in a
// shipped file is caught here, not by the user who runs it).
TEST(Config, EveryShippedConfigParses) {
  int seen = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(HYPERREP_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".toml" || e.path().string().find("/sweeps/") != std::string::npos) continue;
    Config cfg;
    EXPECT_NO_THROW(cfg = load_config(e.path().string())) << e.path();
    ++seen;
  }
  EXPECT_GE(seen, 9);
}

TEST(Config, RandomSearchNeedsConfigsAndValidSamples) {
  Config cfg;
  auto issues = parse_config("[zoo]\nsearch = \"random\"\n", "t.toml", {}, cfg);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].str().find("zoo.num_configs: must be at least 1 with zoo.search = random"), std::string::npos)
      << issues[0].str();
  issues = parse_config("[zoo]\nsearch = \"random\"\nnum_configs = 5\nsample = [\"lr=uniform(1,2)\",\n  \"lr=gamma(1,2)\"]\n",
                        "t.toml", {}, cfg);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 4);
  EXPECT_NE(issues[0].message.find("unknown distribution 'gamma'"), std::string::npos) << issues[0].str();
  Config fresh;
  issues = parse_config("[zoo]\nsample = [\"lr=uniform(1,2)\"]\n", "t.toml", {}, fresh);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("applies only with zoo.search = random"), std::string::npos) << issues[0].str();
  EXPECT_TRUE(parse_config("[zoo]\nsearch = \"random\"\nnum_configs = 5\nsample = [\"dropout=uniform(0,0.5)\"]\n"
                           "optimizer = [\"rmsprop\"]\nactivation = [\"selu\", \"elu\"]\ninit = [\"orthogonal\"]\n",
                           "t.toml", {}, cfg)
                  .empty());
}

TEST(Config, DataZooDefaultsToZooPath) {
  Config cfg;
  ASSERT_TRUE(parse_config("[zoo]\npath = \"zoos/q\"\n", "t", {}, cfg).empty());
  EXPECT_EQ(cfg.data.zoo, "zoos/q");
  Config set;
  ASSERT_TRUE(parse_config("", "t", {"zoo.path=zoos/s"}, set).empty());
  EXPECT_EQ(set.data.zoo, "zoos/s");
  Config own;
  ASSERT_TRUE(parse_config("[zoo]\npath = \"zoos/q\"\n[data]\nzoo = \"zoos/other\"\n", "t", {}, own).empty());
  EXPECT_EQ(own.data.zoo, "zoos/other");
  Config over;
  ASSERT_TRUE(parse_config("[zoo]\npath = \"zoos/q\"\n", "t", {"data.zoo=zoos/x"}, over).empty());
  EXPECT_EQ(over.data.zoo, "zoos/x");
  // What to_toml writes reads back to the same data.zoo.
  Config back;
  ASSERT_TRUE(parse_config(to_toml(cfg), "t", {}, back).empty());
  EXPECT_EQ(back.data.zoo, "zoos/q");
}

}  // namespace
}  // namespace hyperrep
