#include "gift/train/optimizer.h"

#include <cmath>
#include <sstream>

#include "gift/core/error.h"

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

void optimizer_step(Vec& params, const Vec& grad, OptimizerState& s, const OptimizerOptions& o) {
  const Eigen::Index n = params.size();
  if (grad.size() != n) throw InternalError("optimizer_step: gradient size mismatch");
  if (s.m.size() != n) {
    s.m = Vec::Zero(n);
    if (o.kind == OptimizerKind::kAdam) s.v = Vec::Zero(n);
    s.step = 0;
  }
  ++s.step;
  const float wd = static_cast<float>(o.weight_decay);
  if (o.kind == OptimizerKind::kSgd) {
    const float mu = static_cast<float>(o.momentum), lr = static_cast<float>(o.lr);
    for (Eigen::Index i = 0; i < n; ++i) {
      const float g = grad[i] + wd * params[i];
      s.m[i] = mu * s.m[i] + g;
      params[i] -= lr * s.m[i];
    }
    return;
  }
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  const double c1 = 1 - std::pow(o.beta1, static_cast<double>(s.step));
  const double c2 = 1 - std::pow(o.beta2, static_cast<double>(s.step));
  const float step = static_cast<float>(o.lr * std::sqrt(c2) / c1);
  const float eps = static_cast<float>(o.eps * std::sqrt(c2));
  for (Eigen::Index i = 0; i < n; ++i) {
    const float g = grad[i] + wd * params[i];
    s.m[i] = b1 * s.m[i] + (1 - b1) * g;
    s.v[i] = b2 * s.v[i] + (1 - b2) * g * g;
    params[i] -= step * s.m[i] / (std::sqrt(s.v[i]) + eps);
  }
}

}  // namespace gift
