// Shared by the sweep tests: a temporary directory with a base config and a sweep file, and
// fake run directories (results.csv + DONE_RUN) as `hyperrep run` leaves them.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "sweep/sweep_spec.h"
#include "tests/support/temp_dir.h"

namespace hyperrep::sweep::testing {

class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::make_unique<hyperrep::testing::TempDir>("hyperrep_sweep");
    dir_ = tmp_->path();
    old_cwd_ = std::filesystem::current_path();
    std::filesystem::current_path(dir_);  // sweep.out is relative to the working directory
    std::filesystem::create_directories("configs/sweeps");
    write("configs/base.toml",
          "[run]\nname = \"base\"\ndir = \"runs/base\"\n[zoo]\npath = \"zoos/base\"\nnum_seeds = 10\n"
          "[model]\nd_model = 32\nheads = 4\nlatent = 8\n[train]\nepochs = 20\nlr = 0.001\n");
  }
  void TearDown() override {
    std::filesystem::current_path(old_cwd_);
    tmp_.reset();
  }
  static void write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path().empty()
                                            ? std::filesystem::path(".")
                                            : std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // A sweep file in configs/sweeps with the base "../base.toml".
  static std::string sweep_file(const std::string& axes, const std::string& mode = "grid", const std::string& extra = "") {
    const std::string path = "configs/sweeps/test.toml";
    write(path, "[sweep]\nbase = \"../base.toml\"\naxes = [" + axes + "]\nmode = \"" + mode + "\"\nout = \"out\"\n" + extra);
    return path;
  }
  static void fake_done(const SweepRun& run, const std::string& results) {
    write(run.dir + "/results.csv", results);
    write(run.dir + "/DONE_RUN", "");
  }

  std::unique_ptr<hyperrep::testing::TempDir> tmp_;
  std::string dir_;
  std::filesystem::path old_cwd_;
};

}  // namespace hyperrep::sweep::testing
