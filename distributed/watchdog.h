// Hang detection: the training loop beats at every step; when no beat comes for timeout_s (a
// peer died or hangs inside a collective), this rank logs rank and step and ends the whole
// job instead of waiting forever.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace hyperrep::dist {

class Watchdog {
 public:
  // on_timeout receives the message; by default it logs it and aborts the MPI job (exit 1).
  Watchdog(int rank, double timeout_s, std::function<void(const std::string&)> on_timeout = {});
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Progress at step (or a phase such as a checkpoint save): restarts the timer.
  void beat(int64_t step, const char* phase = "training");
  // Long local work that must not count as a hang (e.g. probes on rank 0 only).
  void pause();

 private:
  void run();
  int rank_;
  double timeout_s_;
  std::function<void(const std::string&)> on_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  double last_beat_ = 0;
  int64_t step_ = 0;
  std::string phase_ = "start-up";
  bool paused_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hyperrep::dist
