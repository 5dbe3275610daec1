// The watchdog fires once when beats stop for longer than the timeout, naming rank and step,
// and stays quiet while beats keep coming or while paused.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "distributed/watchdog.h"

namespace hyperrep::dist {
namespace {

TEST(Watchdog, FiresOnceWhenBeatsStop) {
  std::atomic<int> fired{0};
  std::string message;
  {
    Watchdog dog(3, 0.3, [&](const std::string& m) {
      message = m;
      ++fired;
    });
    for (int i = 0; i < 8; ++i) {
      dog.beat(i);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(fired.load(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
  }
  EXPECT_EQ(fired.load(), 1);
  EXPECT_NE(message.find("rank 3"), std::string::npos) << message;
  EXPECT_NE(message.find("at step 7"), std::string::npos) << message;
}

TEST(Watchdog, QuietWhilePaused) {
  std::atomic<int> fired{0};
  {
    Watchdog dog(0, 0.2, [&](const std::string&) { ++fired; });
    dog.pause();
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
  }
  EXPECT_EQ(fired.load(), 0);
}

}  // namespace
}  // namespace hyperrep::dist
