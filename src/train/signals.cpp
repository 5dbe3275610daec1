#include "train/signals.h"

#include <pthread.h>

#include <csignal>

namespace hyperrep::train {
namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }
}  // namespace

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  // main() blocks both before anything else (launch/main.cpp), so that a signal that comes
  // during start-up waits here instead of killing the process; a pending one is delivered now.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
}

bool stop_signal_received() { return g_stop != 0; }
void clear_stop_signal() { g_stop = 0; }

}  // namespace hyperrep::train
