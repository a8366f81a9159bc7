#include "gift/core/threads.h"

#include <omp.h>

#include <algorithm>
#include <string>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "gift/core/error.h"

namespace gift {

#if defined(__SSE__)
namespace {
constexpr unsigned kFtzDaz = 0x8040;  // MXCSR bits 15 (flush to zero) and 6 (denormals are zero)
}  // namespace
#endif

FlushSubnormals::FlushSubnormals() {
#if defined(__SSE__)
  saved_ = _mm_getcsr();
  _mm_setcsr(saved_ | kFtzDaz);
#endif
}

FlushSubnormals::~FlushSubnormals() {
#if defined(__SSE__)
  _mm_setcsr(saved_);
#endif
}

unsigned subnormal_mode() {
#if defined(__SSE__)
  return _mm_getcsr() & kFtzDaz;
#else
  return 0;
#endif
}

SubnormalMode::SubnormalMode(unsigned mode) {
#if defined(__SSE__)
  saved_ = _mm_getcsr();
  _mm_setcsr((saved_ & ~kFtzDaz) | (mode & kFtzDaz));
#else
  (void)mode;
#endif
}

SubnormalMode::~SubnormalMode() {
#if defined(__SSE__)
  _mm_setcsr(saved_);
#endif
}

int resolve_threads(int requested) {
  if (requested < 0 || requested > kMaxThreads) {
    throw InputError("threads must be in [0, " + std::to_string(kMaxThreads) +
                     "] (0 = all cores), found " + std::to_string(requested));
  }
  return requested > 0 ? requested : std::min(omp_get_max_threads(), kMaxThreads);
}

}  // namespace gift
