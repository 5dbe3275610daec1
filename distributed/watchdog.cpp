#include "distributed/watchdog.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "common/clock.h"
#include "distributed/mpi_runtime.h"

namespace hyperrep::dist {

Watchdog::Watchdog(int rank, double timeout_s, std::function<void(const std::string&)> on_timeout)
    : rank_(rank), timeout_s_(timeout_s), on_timeout_(std::move(on_timeout)), last_beat_(now_s()) {
  if (!on_timeout_) {
    on_timeout_ = [](const std::string& msg) {
      spdlog::error("{}", msg);
      spdlog::default_logger()->flush();
      std::fflush(nullptr);
      if (auto* mpi = MpiRuntime::current()) mpi->abort(1);
      std::_Exit(1);
    };
  }
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::beat(int64_t step, const char* phase) {
  std::lock_guard<std::mutex> lock(mu_);
  last_beat_ = now_s();
  step_ = step;
  phase_ = phase;
  paused_ = false;
}

void Watchdog::pause() {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = true;
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stop_ || paused_) continue;
    const double idle = now_s() - last_beat_;
    if (idle > timeout_s_) {
      char msg[512];
      std::snprintf(msg, sizeof msg,
                    "rank %d: no progress for %.0f s during %s at step %lld: a peer rank died or hangs "
                    "(distributed.timeout_s = %.0f); ending the job",
                    rank_, idle, phase_.c_str(), static_cast<long long>(step_), timeout_s_);
      auto fn = on_timeout_;
      paused_ = true;  // report once
      lock.unlock();
      fn(msg);
      lock.lock();
    }
  }
}

}  // namespace hyperrep::dist
