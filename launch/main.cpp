// The hyperrep executable: MPI start-up, logging, dispatch to a subcommand, and the one place
// where exceptions become messages and exit codes (2 usage/config, 1 otherwise).

#include <csignal>

#include <cstdlib>
#include <iostream>
#include <string>

#include "common/error.h"
#include "common/logging.h"
#include "common/runtime.h"
#include "distributed/mpi_runtime.h"
#include "launch/commands.h"

namespace {

void print_usage(std::ostream& os) {
  os << "usage: hyperrep [--version] [--help] <command> [<args>]\n\ncommands:\n";
  for (const auto& c : hyperrep::cli::commands()) {
    os << "  " << c.name << std::string(12 - std::min<size_t>(11, std::string(c.name).size()), ' ') << c.summary << "\n";
  }
  os << "\n'hyperrep <command> --help' describes a command. Config-taking commands accept\n"
        "--config FILE and repeated --set section.key=value.\n";
}

int dispatch(hyperrep::dist::MpiRuntime& mpi, int argc, char** argv) {
  using namespace hyperrep;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(std::cerr);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (args[0] == "--version") args[0] = "version";
  for (const auto& c : cli::commands()) {
    if (args[0] == c.name) {
      cli::Context ctx{mpi, std::vector<std::string>(args.begin() + 1, args.end())};
      return c.run(ctx);
    }
  }
  HYPERREP_THROW(UsageError, "unknown command '", args[0], "' (see hyperrep --help)");
}

// OpenMP's idle workers spin before they sleep (libgomp: 300,000 rounds when OMP_WAIT_POLICY is
// unset). Alone that saves a wake-up; next to any other busy process (a second job, more ranks
// than cores) a spinning worker holds the core its peer needs and a parallel region waits for a
// descheduled thread: on 2 cores next to one busy process, 2-thread zoo generation took 2.7x its
// time alone with the default policy and 1.5x with passive waiting (README, "Ranks and
// threads"). libgomp reads the policy once, when it is loaded, before main: so the commands
// that compute start themselves again with OMP_WAIT_POLICY=PASSIVE, unless the user chose a
// policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment). The exec keeps the pid, so
// mpirun, srun and signal handlers see the same process; it costs about 0.3 s of start-up, so
// commands that only read or print do not pay it.
void exec_with_passive_openmp_wait(int argc, char** argv) {
  if (argc < 2) return;
  const std::string command = argv[1];
  const std::string verb = argc > 2 ? argv[2] : "";
  const bool computes = command == "run" || command == "train" || command == "embed" || command == "probe" ||
                        command == "baseline" || (command == "zoo" && verb == "generate");
  if (computes) hyperrep::restart_with_passive_openmp_wait(argv);
}

// `train` and `run` stop at SIGTERM/SIGUSR1 (Slurm's warning) with a checkpoint, but their
// handlers exist only once the trainer runs; Slurm may send the warning seconds after the job
// starts. So these commands block both signals first thing (the mask survives the exec below
// and is inherited by every thread); install_stop_signal_handlers unblocks them, and a signal
// that came in between is delivered then and honoured after the first step.
void hold_stop_signals_until_the_trainer_runs(int argc, char** argv) {
  if (argc < 2) return;
  const std::string command = argv[1];
  if (command != "train" && command != "run") return;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGUSR1);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hyperrep;
  hold_stop_signals_until_the_trainer_runs(argc, argv);
  exec_with_passive_openmp_wait(argc, argv);
  std::unique_ptr<dist::MpiRuntime> mpi;
  try {
    mpi = std::make_unique<dist::MpiRuntime>(&argc, &argv);
  } catch (const std::exception& e) {
    std::cerr << "hyperrep: cannot start MPI: " << e.what() << "\n";
    return 1;
  }
  init_logging(mpi->rank(), mpi->world_size());
  int code = 0;
  try {
    code = dispatch(*mpi, argc, argv);
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    if (e.kind() != ErrorKind::kUsage && e.kind() != ErrorKind::kConfig && !e.file().empty()) {
      spdlog::debug("thrown at {}:{}", e.file(), e.line());
    }
    code = e.exit_code();
  } catch (const c10::Error& e) {
    spdlog::error("torch: {}", e.what_without_backtrace());
    code = 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    code = 1;
  }
  spdlog::default_logger()->flush();
  // A rank that fails alone would leave its peers waiting in a collective: end them all.
  if (code != 0 && mpi->world_size() > 1) mpi->abort(code);
  mpi.reset();
  return code;
}
