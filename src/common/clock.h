// Wall time for durations, progress and watchdogs: seconds on the monotonic clock.
#pragma once

#include <chrono>

namespace hyperrep {

// Seconds since an arbitrary fixed point; only differences mean something.
inline double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace hyperrep
