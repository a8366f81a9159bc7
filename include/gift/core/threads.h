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
// Each OpenMP worker thread keeps its own mode (from whoever last set it, or inherited when the
// runtime started it), so a parallel region that runs under this guard must give its workers
// the caller's mode (SubnormalMode below) or sets this guard in every thread.
class FlushSubnormals {
 public:
  FlushSubnormals();
  ~FlushSubnormals();
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
  unsigned saved_ = 0;
};

// The calling thread's subnormal handling (its FTZ and DAZ bits; 0 where there are none).
unsigned subnormal_mode();

// Gives this thread `mode` (a subnormal_mode() of another thread) while alive and restores its
// previous floating-point mode afterwards. Declared first in a parallel region's body with the
// caller's mode, so that every worker flushes subnormals exactly when the caller does and a
// result does not depend on which thread computed which part of it.
class SubnormalMode {
 public:
  explicit SubnormalMode(unsigned mode);
  ~SubnormalMode();
  SubnormalMode(const SubnormalMode&) = delete;
  SubnormalMode& operator=(const SubnormalMode&) = delete;

 private:
  unsigned saved_ = 0;
};

}  // namespace gift
