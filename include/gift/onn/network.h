// A feed-forward photonic network: L dense layers, all parameters in one flat buffer.
//
// Layout of params (llm.c style, so an optimizer is one loop over the buffer):
//   physical chain: [W_0 (O_0 x I_0, row-major) | b_0 (O_0) | g_0 (O_0) | W_1 | b_1 | g_1 | ...]
//   legacy chain:   [W_0 | b_0 | W_1 | b_1 | ...]
// Weights are transmissions, programmable within [-w_max, w_max] (SPEC §2, the optical
// budget); project() enforces it. In the physical chain (docs/model.md) every layer's input is
// light from a modulator with intensities in [0, 1], each neuron's detected sum u passes an
// electronic amplifier of gain g (free, trained like the weights) and a bias b (bounded by the
// modulator's range, |b| <= 1, enforced by project()), and each hidden output saturates into
// [0, 1] for the next layer's modulator: z = g ⊙ u + b, a = clamp(φ(z), 0, 1). The legacy chain
// (the model of the first releases, kept for continuity) has no gain, unbounded biases and
// unbounded activations: z = u + b with the bias inside the detected sum.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gift/core/matrix.h"

namespace gift {

// The default architecture of the reproduction (SPEC §5), as --arch and sweep configs write it.
constexpr const char* kDefaultArchitecture = "784-256-128-64-32-10";

enum class Activation { kLinear, kRelu, kSigmoid, kTanh };

// The signal chain a network is built for (see the layout comment above).
enum class Chain { kPhysical, kLegacy };
const char* to_string(Chain c);
// "physical" or "legacy"; throws InputError otherwise.
Chain parse_chain(const std::string& name);
// The range of a modulator's intensity, of every hidden activation and of a bias (physical chain).
constexpr double kModulatorMax = 1.0;
const char* to_string(Activation a);
// "linear", "relu", "sigmoid", "tanh"; throws InputError otherwise.
Activation parse_activation(const std::string& name);

struct Architecture {
  std::vector<int> sizes;               // L + 1 widths: input, hidden..., classes
  std::vector<Activation> activations;  // L entries; the last must be linear (logits)
  double w_max = 1.0;                   // programmable weight range [-w_max, w_max]
  Chain chain = Chain::kPhysical;       // the signal chain (physical: power budget, gains)

  size_t num_layers() const { return activations.size(); }
  int inputs() const { return sizes.front(); }
  int outputs() const { return sizes.back(); }
  size_t num_params() const;
  // Throws InputError unless every width >= 1, sizes.size() == L + 1 >= 2, the last
  // activation is linear and w_max is finite and > 0.
  void validate() const;
  // "784-256-128-64-32-10 relu, w_max 1" (", legacy chain" appended for the legacy chain).
  std::string describe() const;
  bool physical() const { return chain == Chain::kPhysical; }

  // The default of the reproduction: kDefaultArchitecture, relu (SPEC §5).
  static Architecture default_mnist();
  // Same widths, activations and w_max (exactly): the same programmable network.
  bool operator==(const Architecture& o) const {
    return sizes == o.sizes && activations == o.activations && w_max == o.w_max && chain == o.chain;
  }
  bool operator!=(const Architecture& o) const { return !(*this == o); }
  // Widths "784,256,10" or "784-256-10" with one hidden activation for all hidden layers.
  static Architecture from_string(const std::string& widths, Activation hidden, double w_max,
                                  Chain chain = Chain::kPhysical);
};

template <class T>
class NetworkT {
 public:
  NetworkT() = default;
  // All weights and biases zero, gains (physical chain) one. Requires arch.validate() to pass
  // (checked).
  explicit NetworkT(Architecture arch);

  const Architecture& arch() const { return arch_; }
  size_t num_layers() const { return arch_.num_layers(); }
  VecT<T>& params() { return params_; }
  const VecT<T>& params() const { return params_; }
  size_t weight_offset(size_t l) const { return offsets_[l]; }
  size_t bias_offset(size_t l) const {
    return offsets_[l] + static_cast<size_t>(arch_.sizes[l + 1]) * arch_.sizes[l];
  }

  // Physical chain only: the offset of layer l's gains g_l (O_l).
  size_t gain_offset(size_t l) const { return bias_offset(l) + arch_.sizes[l + 1]; }
  bool has_gain() const { return arch_.physical(); }

  // W_l: O x I view into params; b_l: 1 x O view; g_l: 1 x O view (physical chain only;
  // InternalError on a legacy network).
  Eigen::Map<MatT<T>> weight(size_t l);
  Eigen::Map<const MatT<T>> weight(size_t l) const;
  Eigen::Map<RowVecT<T>> bias(size_t l);
  Eigen::Map<const RowVecT<T>> bias(size_t l) const;
  Eigen::Map<RowVecT<T>> gain(size_t l);
  Eigen::Map<const RowVecT<T>> gain(size_t l) const;

  // He-uniform weights (limit sqrt(6 / I), clipped to w_max), zero biases; from seed. Physical
  // chain: the weights uniform over [-w_max, w_max] and every gain limit / w_max, the same
  // noiseless function with the whole transmission range in use.
  void init(uint64_t seed);
  // Clips every weight to [-w_max, w_max] and, in the physical chain, every bias to
  // [-kModulatorMax, kModulatorMax]. Gains are free (finite).
  void project();
  // True when every parameter is finite.
  bool all_finite() const { return params_.allFinite(); }

  template <class U>
  NetworkT<U> cast() const {
    NetworkT<U> out(arch_);
    out.params() = params_.template cast<U>();
    return out;
  }

 private:
  Architecture arch_;
  std::vector<size_t> offsets_;
  VecT<T> params_;
};

using Network = NetworkT<float>;
using NetworkD = NetworkT<double>;

}  // namespace gift
