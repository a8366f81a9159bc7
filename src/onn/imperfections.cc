#include "gift/onn/imperfections.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

#include "gift/core/error.h"
#include "gift/core/rng.h"

namespace gift {
namespace {

void check_std(double value, const char* name, const std::string& what) {
  if (!std::isfinite(value) || value < 0) {
    std::ostringstream os;
    os << what << ": " << name << " must be finite and >= 0, found " << value;
    throw InputError(os.str());
  }
}

// Step 2 of the header, in place on one layer's weights: kLayer, then kFixed.
void quantise_layer_range(Eigen::Map<MatT<float>>& w, int bits) {
  const double range = w.cwiseAbs().maxCoeff();
  if (range > 0) {
    const double levels = std::ldexp(1.0, bits) - 1;  // steps across [-r, r]
    const double step = 2 * range / levels;
    for (Eigen::Index i = 0; i < w.size(); ++i) {
      const double k = std::round((w.data()[i] + range) / step);
      w.data()[i] = static_cast<float>(-range + k * step);
    }
  }
}

void quantise_fixed(Eigen::Map<MatT<float>>& w, int bits, double w_max) {
  const double k_max = std::ldexp(1.0, bits - 1) - 1;  // levels k * step, |k| <= k_max
  const double step = w_max / k_max;                   // = 2 w_max / (2^B - 2)
  for (Eigen::Index i = 0; i < w.size(); ++i) {
    double k = std::clamp(std::round(w.data()[i] / step), -k_max, k_max);
    if (k == 0) k = 0;  // +0 for the zero level, never -0
    w.data()[i] = static_cast<float>(k * step);
  }
}

// Step 3: each weight gains kappa times its four programmed neighbours (row-major layout).
void add_crosstalk(Eigen::Map<MatT<float>>& w, double kappa) {
  const MatT<float> p = w;  // the programmed weights, before any leaks
  const Eigen::Index rows = p.rows(), cols = p.cols();
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (Eigen::Index j = 0; j < cols; ++j) {
      double sum = 0;
      if (j > 0) sum += p(i, j - 1);
      if (j + 1 < cols) sum += p(i, j + 1);
      if (i > 0) sum += p(i - 1, j);
      if (i + 1 < rows) sum += p(i + 1, j);
      w(i, j) = static_cast<float>(p(i, j) + kappa * sum);
    }
  }
}

}  // namespace

const char* to_string(DacScale d) {
  switch (d) {
    case DacScale::kLayer:
      return "layer";
    case DacScale::kFixed:
      return "fixed";
  }
  throw InternalError("unknown DAC scale");
}

DacScale parse_dac_scale(const std::string& name) {
  for (DacScale d : {DacScale::kLayer, DacScale::kFixed}) {
    if (name == to_string(d)) return d;
  }
  const std::string shown = name.size() <= 100 ? name : name.substr(0, 100) + "...";
  throw InputError("unknown DAC scale '" + shown + "': expected layer or fixed");
}

void Imperfections::validate(const std::string& what) const {
  check_std(gain_std, "gain_std", what);
  if (weight_bits < 0 || weight_bits > 24) {
    throw InputError(what + ": weight_bits must be 0 (continuous) or in [1, 24], found " +
                     std::to_string(weight_bits));
  }
  check_std(row_gain_std, "row_gain_std", what);
  check_std(col_gain_std, "col_gain_std", what);
  if (!std::isfinite(crosstalk) || crosstalk < 0 || crosstalk >= 0.5) {
    std::ostringstream os;
    os << what << ": crosstalk must be finite and in [0, 0.5), found " << crosstalk;
    throw InputError(os.str());
  }
  if (dac == DacScale::kFixed && weight_bits == 1) {
    throw InputError(what + ": a fixed DAC (dac fixed) needs weight_bits 0 or >= 2, found 1 " +
                     "(its 2^B - 1 levels would be the single level 0)");
  }
}

Network apply_imperfections(const Network& net, const Imperfections& imp, uint64_t seed) {
  imp.validate();
  Network out = net;
  out.project();
  for (size_t l = 0; l < out.num_layers(); ++l) {
    Eigen::Map<MatT<float>> w = out.weight(l);
    const uint32_t layer = static_cast<uint32_t>(l);
    if (imp.weight_bits > 0) {
      if (imp.dac == DacScale::kLayer) {
        quantise_layer_range(w, imp.weight_bits);
      } else {
        quantise_fixed(w, imp.weight_bits, out.arch().w_max);
      }
    }
    if (imp.crosstalk > 0) add_crosstalk(w, imp.crosstalk);
    if (imp.gain_std > 0) {
      std::vector<float> delta(static_cast<size_t>(w.size()));
      fill_normal(delta.data(), delta.size(), RngStream{seed, Purpose::kFabrication, layer, 0, 0});
      for (Eigen::Index i = 0; i < w.size(); ++i) {
        w.data()[i] *= 1.0f + static_cast<float>(imp.gain_std) * delta[static_cast<size_t>(i)];
      }
    }
    if (imp.row_gain_std > 0) {
      std::vector<float> r(static_cast<size_t>(w.rows()));
      fill_normal(r.data(), r.size(), RngStream{seed, Purpose::kRowGain, layer, 0, 0});
      for (Eigen::Index i = 0; i < w.rows(); ++i) {
        w.row(i) *= 1.0f + static_cast<float>(imp.row_gain_std) * r[static_cast<size_t>(i)];
      }
    }
    if (imp.col_gain_std > 0) {
      std::vector<float> c(static_cast<size_t>(w.cols()));
      fill_normal(c.data(), c.size(), RngStream{seed, Purpose::kColGain, layer, 0, 0});
      for (Eigen::Index j = 0; j < w.cols(); ++j) {
        w.col(j) *= 1.0f + static_cast<float>(imp.col_gain_std) * c[static_cast<size_t>(j)];
      }
    }
  }
  return out;
}

}  // namespace gift
