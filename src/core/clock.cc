#include "gift/core/clock.h"

namespace gift {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double eta_seconds(Clock::time_point start, size_t finished, size_t remaining) {
  return seconds_since(start) / static_cast<double>(finished) * static_cast<double>(remaining);
}

}  // namespace gift
