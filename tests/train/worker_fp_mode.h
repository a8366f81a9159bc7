// Puts OpenMP's worker threads in a chosen subnormal mode, the way a pool started inside (or
// outside) a FlushSubnormals scope is left: each worker keeps the floating-point mode it had
// when the runtime started it, or last set. Tests of thread-count determinism run with the
// workers in both modes, so a parallel loop that does not hand its workers the caller's mode
// gives a result that depends on the thread count in one of them.
#pragma once

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace gift::test {

// Sets FTZ and DAZ on (flush) or off in the workers of a team of `threads`; the calling thread
// keeps its mode.
inline void set_worker_subnormal_mode(bool flush, int threads) {
#if defined(__SSE__)
  const unsigned caller = _mm_getcsr();
#pragma omp parallel num_threads(threads)
  {
    const unsigned mode = _mm_getcsr();
    _mm_setcsr(flush ? mode | 0x8040u : mode & ~0x8040u);
  }
  _mm_setcsr(caller);
#else
  (void)flush;
  (void)threads;
#endif
}

}  // namespace gift::test
