// Wall time of work (reports' seconds, progress ETAs): a steady clock, never the calendar.
#pragma once

#include <chrono>
#include <cstddef>

namespace gift {

using Clock = std::chrono::steady_clock;

// Seconds since `start`.
double seconds_since(Clock::time_point start);

// The expected seconds left when `remaining` of the work's parts are left after `finished`
// (finished > 0) took seconds_since(start), at that pace.
double eta_seconds(Clock::time_point start, size_t finished, size_t remaining);

}  // namespace gift
