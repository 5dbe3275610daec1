#include "common/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/error.h"

extern char** environ;

namespace hyperrep {
namespace {

// The sweep itself runs as an MPI singleton; a child that inherits the singleton's launcher
// variables (PMIx server, job ids) would take itself for part of that job, and a nested
// mpirun refuses to start. Children get the environment without them.
bool launcher_variable(const char* entry) {
  static const char* kPrefixes[] = {"PMIX_",         "OMPI_COMM_WORLD",       "OMPI_MCA_ess",       "OMPI_MCA_orte_",
                                    "OMPI_MCA_pmix", "OMPI_UNIVERSE_SIZE",    "OMPI_FIRST_RANKS",   "OMPI_NUM_APP_CTX",
                                    "OMPI_APP_CTX",  "OMPI_FILE_LOCATION",    "OMPI_ARGV",          "OMPI_COMMAND",
                                    "ORTE_",         "OMPI_MCA_initial_wdir", "OMPI_MCA_mpi_yield", "OMPI_MCA_shmem_RUNTIME"};
  for (const char* p : kPrefixes)
    if (std::strncmp(entry, p, std::strlen(p)) == 0) return true;
  return false;
}

}  // namespace

int run_process(const std::vector<std::string>& argv, const std::string& output_file, const std::string& cwd) {
  HYPERREP_CHECK(!argv.empty(), InternalError, "run_process: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e; ++e)
    if (!launcher_variable(*e)) env.push_back(*e);
  env.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!output_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  // After the output file is opened, so that a relative output_file means the parent's directory.
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    HYPERREP_CHECK(errno == EINTR, IoError, "waitpid for '", argv[0], "': ", std::strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string self_executable_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  HYPERREP_CHECK(!ec, IoError, "cannot read /proc/self/exe: ", ec.message());
  return exe.parent_path().string();
}

std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const std::string dir = dirs.substr(start, end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

std::string shell_quote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._-=+:,@%", c))) plain = false;
  }
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + shell_quote(a);
  return out;
}

}  // namespace hyperrep
