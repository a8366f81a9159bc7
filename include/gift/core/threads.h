// Thread counts and the floating-point mode of worker threads, shared by the training
// engine, the simulated device and the experiment pools (so none includes another's header).
#pragma once

namespace gift {

// The most threads (or parallel jobs) gift starts; more would only exhaust the machine.
constexpr int kMaxThreads = 256;

// Number of threads to use for `requested` (0 = OpenMP's default, i.e. OMP_NUM_THREADS
// or the number of cores, at most kMaxThreads). Throws InputError unless 0 <= requested
// <= kMaxThreads.
int resolve_threads(int requested);

// Flushes subnormal floats to zero (x86 FTZ + DAZ) on this thread while alive, and
// restores the caller's floating-point mode afterwards. Subnormals (tiny Adam moments,
// tiny activations) are up to 100x slower and carry no information here.
class FlushSubnormals {
 public:
  FlushSubnormals();
  ~FlushSubnormals();
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
  unsigned saved_ = 0;
};

}  // namespace gift
