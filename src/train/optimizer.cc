#include "gift/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "gift/core/error.h"
#include "gift/core/threads.h"

namespace gift {

const char* to_string(OptimizerKind k) { return k == OptimizerKind::kAdam ? "adam" : "sgd"; }

OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "adam") return OptimizerKind::kAdam;
  if (name == "sgd") return OptimizerKind::kSgd;
  throw InputError("unknown optimizer '" + name + "': expected adam or sgd");
}

void OptimizerOptions::validate() const {
  auto check = [](const char* name, double v, double lo, double hi, bool lo_open) {
    if (!std::isfinite(v) || v < lo || (lo_open && v == lo) || v >= hi) {
      std::ostringstream os;
      os << "optimizer option " << name << " must be in " << (lo_open ? "(" : "[") << lo << ", "
         << hi << "), found " << v;
      throw InputError(os.str());
    }
  };
  check("lr", lr, 0, 1e3, true);
  check("momentum", momentum, 0, 1, false);
  check("beta1", beta1, 0, 1, false);
  check("beta2", beta2, 0, 1, false);
  check("eps", eps, 0, 1, true);
  check("weight_decay", weight_decay, 0, 1e3, false);
}

namespace {

// Elements per task: large enough to amortise a task, small enough to balance two threads.
constexpr Eigen::Index kStepChunk = 16384;

// One optimizer update of elements [b, b + n). Elementwise, so the result does not depend on
// how the buffer is split. Eigen vectorises it; its vectorised sqrt (EIGEN_FAST_MATH) is within
// an ulp or so of the correctly rounded one, so this is the textbook update to rounding, not bit
// for bit (tests/train/optimizer_test.cc).
void step_chunk(float* p_, const float* g_, float* m_, float* v_, Eigen::Index n,
                const OptimizerOptions& o, float step, float eps) {
  Eigen::Map<Eigen::ArrayXf> p(p_, n), m(m_, n);
  const Eigen::Map<const Eigen::ArrayXf> grad(g_, n);
  const float wd = static_cast<float>(o.weight_decay);
  if (o.kind == OptimizerKind::kSgd) {
    const float mu = static_cast<float>(o.momentum), lr = static_cast<float>(o.lr);
    m = mu * m + (grad + wd * p);
    p -= lr * m;
    return;
  }
  Eigen::Map<Eigen::ArrayXf> v(v_, n);
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  for (Eigen::Index i = 0; i < n; i += 1024) {  // one pass over L1-sized pieces
    const Eigen::Index k = std::min<Eigen::Index>(1024, n - i);
    const auto g = grad.segment(i, k) + wd * p.segment(i, k);
    m.segment(i, k) = b1 * m.segment(i, k) + (1 - b1) * g;
    v.segment(i, k) = b2 * v.segment(i, k) + (1 - b2) * g * g;
    p.segment(i, k) -= step * m.segment(i, k) / (v.segment(i, k).sqrt() + eps);
  }
}

}  // namespace

void optimizer_step(Vec& params, const Vec& grad, OptimizerState& s, const OptimizerOptions& o,
                    int threads) {
  const Eigen::Index n = params.size();
  if (grad.size() != n) throw InternalError("optimizer_step: gradient size mismatch");
  if (s.m.size() != n) {
    s.m = Vec::Zero(n);
    if (o.kind == OptimizerKind::kAdam) s.v = Vec::Zero(n);
    s.step = 0;
  }
  ++s.step;
  float step = 0, eps = 0;
  if (o.kind == OptimizerKind::kAdam) {
    const double c1 = 1 - std::pow(o.beta1, static_cast<double>(s.step));
    const double c2 = 1 - std::pow(o.beta2, static_cast<double>(s.step));
    step = static_cast<float>(o.lr * std::sqrt(c2) / c1);
    eps = static_cast<float>(o.eps * std::sqrt(c2));
  }
  float* v = o.kind == OptimizerKind::kAdam ? s.v.data() : nullptr;
  const Eigen::Index chunks = (n + kStepChunk - 1) / kStepChunk;
  // Every chunk is computed in the caller's subnormal mode: the trainer and the in-situ methods
  // call this under FlushSubnormals, and a worker left in another mode would keep the subnormal
  // moments that the caller's chunk flushes (a result that depends on the thread count).
  const unsigned mode = subnormal_mode();
#pragma omp parallel num_threads(std::max(1, threads)) if (threads > 1 && chunks > 1)
  {
    const SubnormalMode fp(mode);
#pragma omp for schedule(static)
    for (Eigen::Index c = 0; c < chunks; ++c) {
      const Eigen::Index b = c * kStepChunk, k = std::min(kStepChunk, n - b);
      step_chunk(params.data() + b, grad.data() + b, s.m.data() + b, v ? v + b : nullptr, k, o,
                 step, eps);
    }
  }
}

}  // namespace gift
