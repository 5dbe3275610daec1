// Small timing helpers shared by the benchmarks: wall-clock medians and the machine's measured
// fp32 matrix-multiply rate, printed so that a slow BLAS is never silent.
#pragma once

#include <torch/torch.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace hyperrep::bench {

inline double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Median seconds per call of fn over reps repetitions (after warmup calls).
inline double median_seconds(const std::function<void()>& fn, int reps, int warmup = 2) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_s();
    fn();
    t.push_back(now_s() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Measured fp32 GEMM rate in GFLOP/s for an n x n product on the CPU.
inline double gemm_gflops(int64_t n = 1024) {
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  auto c = torch::empty({n, n});
  const double s = median_seconds([&] { torch::mm_out(c, a, b); }, 5, 2);
  return 2.0 * n * n * n / s / 1e9;
}

// A peer benchmark: one of the plain-PyTorch scripts in bench/ (peer_*.py), run with
// /usr/bin/python3 as an argument vector (no shell). Returns the number printed before `unit` on
// its last output line, or nothing with the reason in *why (python3 or python3-torch missing, the
// script failed, HYPERREP_PEER=0).
inline std::optional<double> run_peer(const std::string& script, const std::vector<std::string>& args, const std::string& unit,
                                      std::string* why) {
  const char* python = "/usr/bin/python3";
  if (const char* off = std::getenv("HYPERREP_PEER"); off && std::string(off) == "0") {
    *why = "skipped (HYPERREP_PEER=0)";
    return std::nullopt;
  }
  if (access(python, X_OK) != 0) {
    *why = "not installed: /usr/bin/python3 is missing (tools/install_deps.sh --python)";
    return std::nullopt;
  }
  const std::string path = std::string(HYPERREP_SOURCE_DIR) + "/bench/" + script;
  std::vector<std::string> argv_s = {python, path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe(fds) != 0) {
    *why = "could not create a pipe";
    return std::nullopt;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, python, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  if (rc != 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (out.find("No module named 'torch'") != std::string::npos) {
      *why = "not installed: python3-torch is missing (tools/install_deps.sh --python)";
    } else {
      const size_t tail = out.size() > 400 ? out.size() - 400 : 0;
      *why = "failed: " + script + " " + (rc != 0 ? "could not start" : "exited with an error") + ": " + out.substr(tail);
    }
    return std::nullopt;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const std::string last = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  const size_t at = last.find(" " + unit);
  const size_t from = at == std::string::npos ? std::string::npos : last.rfind(' ', at - 1);
  if (at == std::string::npos || from == std::string::npos) {
    *why = "failed: no '" + unit + "' in the output of " + script + ": " + last;
    return std::nullopt;
  }
  return std::strtod(last.c_str() + from + 1, nullptr);
}

}  // namespace hyperrep::bench
