#include "gift/onn/network.h"

#include <cmath>
#include <cstdio>
#include <new>
#include <sstream>

#include "gift/core/error.h"
#include "gift/core/rng.h"

namespace gift {

const char* to_string(Activation a) {
  switch (a) {
    case Activation::kLinear:
      return "linear";
    case Activation::kRelu:
      return "relu";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kTanh:
      return "tanh";
  }
  throw InternalError("unknown activation");
}

Activation parse_activation(const std::string& name) {
  for (Activation a :
       {Activation::kLinear, Activation::kRelu, Activation::kSigmoid, Activation::kTanh}) {
    if (name == to_string(a)) return a;
  }
  throw InputError("unknown activation '" + name + "': expected linear, relu, sigmoid or tanh");
}

const char* to_string(Chain c) { return c == Chain::kPhysical ? "physical" : "legacy"; }

Chain parse_chain(const std::string& name) {
  if (name == "physical") return Chain::kPhysical;
  if (name == "legacy") return Chain::kLegacy;
  throw InputError("unknown chain '" + name + "': expected physical or legacy");
}

namespace {
// Parameters of one layer: W, b and, in the physical chain, g.
size_t layer_params(const Architecture& a, size_t l) {
  const size_t O = static_cast<size_t>(a.sizes[l + 1]);
  return O * (static_cast<size_t>(a.sizes[l]) + (a.physical() ? 2 : 1));
}
}  // namespace

size_t Architecture::num_params() const {
  size_t n = 0;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) n += layer_params(*this, l);
  return n;
}

void Architecture::validate() const {
  if (activations.empty()) throw InputError("architecture: needs at least one layer");
  if (sizes.size() != activations.size() + 1) {
    throw InputError("architecture: " + std::to_string(activations.size()) + " layers need " +
                     std::to_string(activations.size() + 1) + " widths, found " +
                     std::to_string(sizes.size()));
  }
  for (int s : sizes) {
    if (s < 1 || s > (1 << 20)) {
      throw InputError("architecture: layer widths must be in [1, 2^20], found " +
                       std::to_string(s));
    }
  }
  if (activations.back() != Activation::kLinear) {
    throw InputError(std::string("architecture: the last layer must be linear (logits), found ") +
                     to_string(activations.back()));
  }
  if (!std::isfinite(w_max) || w_max <= 0) {
    std::ostringstream os;
    os << "architecture: w_max must be finite and > 0, found " << w_max;
    throw InputError(os.str());
  }
}

std::string Architecture::describe() const {
  std::ostringstream os;
  for (size_t i = 0; i < sizes.size(); ++i) os << (i ? "-" : "") << sizes[i];
  os << ' ';
  for (size_t l = 0; l < activations.size(); ++l) os << (l ? "," : "") << to_string(activations[l]);
  os << ", w_max " << w_max;
  if (!physical()) os << ", legacy chain";
  return os.str();
}

Architecture Architecture::default_mnist() {
  return from_string(kDefaultArchitecture, Activation::kRelu, 1.0);
}

Architecture Architecture::from_string(const std::string& widths, Activation hidden, double w_max,
                                       Chain chain) {
  Architecture a;
  a.chain = chain;
  std::string item;
  for (size_t i = 0; i <= widths.size(); ++i) {
    if (i == widths.size() || widths[i] == ',' || widths[i] == '-') {
      size_t used = 0;
      int v = 0;
      try {
        v = std::stoi(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (item.empty() || used != item.size()) {
        throw InputError("architecture: expected widths like 784-256-10, found '" + widths + "'");
      }
      a.sizes.push_back(v);
      item.clear();
    } else {
      item += widths[i];
    }
  }
  if (a.sizes.size() < 2) {
    throw InputError("architecture: expected at least two widths, found '" + widths + "'");
  }
  a.activations.assign(a.sizes.size() - 1, hidden);
  a.activations.back() = Activation::kLinear;
  a.w_max = w_max;
  a.validate();
  return a;
}

template <class T>
NetworkT<T>::NetworkT(Architecture arch) : arch_(std::move(arch)) {
  arch_.validate();
  size_t off = 0;
  for (size_t l = 0; l < arch_.num_layers(); ++l) {
    offsets_.push_back(off);
    off += layer_params(arch_, l);
  }
  try {
    params_ = VecT<T>::Zero(static_cast<Eigen::Index>(off));
    if (has_gain()) {
      for (size_t l = 0; l < arch_.num_layers(); ++l) gain(l).setOnes();
    }
  } catch (const std::bad_alloc&) {
    char gib[32];
    std::snprintf(gib, sizeof gib, "%.1f", static_cast<double>(off) * sizeof(T) / (1 << 30));
    throw InputError("network " + arch_.describe() + ": out of memory for its " +
                     std::to_string(off) + " parameters (" + gib + " GiB)");
  }
}

template <class T>
Eigen::Map<MatT<T>> NetworkT<T>::weight(size_t l) {
  return Eigen::Map<MatT<T>>(params_.data() + offsets_[l], arch_.sizes[l + 1], arch_.sizes[l]);
}
template <class T>
Eigen::Map<const MatT<T>> NetworkT<T>::weight(size_t l) const {
  return Eigen::Map<const MatT<T>>(params_.data() + offsets_[l], arch_.sizes[l + 1],
                                   arch_.sizes[l]);
}
template <class T>
Eigen::Map<RowVecT<T>> NetworkT<T>::bias(size_t l) {
  return Eigen::Map<RowVecT<T>>(params_.data() + bias_offset(l), arch_.sizes[l + 1]);
}
template <class T>
Eigen::Map<const RowVecT<T>> NetworkT<T>::bias(size_t l) const {
  return Eigen::Map<const RowVecT<T>>(params_.data() + bias_offset(l), arch_.sizes[l + 1]);
}

template <class T>
Eigen::Map<RowVecT<T>> NetworkT<T>::gain(size_t l) {
  if (!has_gain()) throw InternalError("gain() of a legacy-chain network");
  return Eigen::Map<RowVecT<T>>(params_.data() + gain_offset(l), arch_.sizes[l + 1]);
}
template <class T>
Eigen::Map<const RowVecT<T>> NetworkT<T>::gain(size_t l) const {
  if (!has_gain()) throw InternalError("gain() of a legacy-chain network");
  return Eigen::Map<const RowVecT<T>>(params_.data() + gain_offset(l), arch_.sizes[l + 1]);
}

template <class T>
void NetworkT<T>::init(uint64_t seed) {
  params_.setZero();
  for (size_t l = 0; l < num_layers(); ++l) {
    const double limit = std::min(std::sqrt(6.0 / arch_.sizes[l]), arch_.w_max);
    Eigen::Map<MatT<T>> w = weight(l);
    const RngStream stream{seed, Purpose::kInit, static_cast<uint32_t>(l), 0, 0};
    std::vector<uint32_t> bits(static_cast<size_t>(w.size()));
    fill_uint32(bits.data(), bits.size(), stream);
    // Physical chain: the same draws spread over the whole transmission range, the gain
    // carrying the He scale (g W is the legacy init exactly), so that every detector starts
    // with as much signal against its noise as the optical budget allows.
    const double range = has_gain() ? arch_.w_max : limit;
    for (Eigen::Index i = 0; i < w.size(); ++i) {
      const double u = (bits[static_cast<size_t>(i)] + 0.5) / 4294967296.0;  // (0, 1)
      w.data()[i] = static_cast<T>((2 * u - 1) * range);
    }
    if (has_gain()) gain(l).setConstant(static_cast<T>(limit / arch_.w_max));
  }
}

template <class T>
void NetworkT<T>::project() {
  const T m = static_cast<T>(arch_.w_max);
  for (size_t l = 0; l < num_layers(); ++l) {
    Eigen::Map<MatT<T>> w = weight(l);
    w = w.cwiseMax(-m).cwiseMin(m);
    if (has_gain()) {
      const T r = static_cast<T>(kModulatorMax);
      Eigen::Map<RowVecT<T>> b = bias(l);
      b = b.cwiseMax(-r).cwiseMin(r);
    }
  }
}

template class NetworkT<float>;
template class NetworkT<double>;

}  // namespace gift
