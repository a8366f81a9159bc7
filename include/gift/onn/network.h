// A feed-forward photonic network: L dense layers, all parameters in one flat buffer.
//
// Layout of params (llm.c style, so an optimizer is one loop over the buffer):
//   [W_0 (O_0 x I_0, row-major) | b_0 (O_0) | W_1 | b_1 | ... ]
// Weights are programmable within [-w_max, w_max] (SPEC §2); project() enforces it.
// Biases are not bounded (they are electronic offsets in the SOA design).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gift/core/matrix.h"

namespace gift {

// The default architecture of the reproduction (SPEC §5), as --arch and sweep configs write it.
constexpr const char* kDefaultArchitecture = "784-256-128-64-32-10";

enum class Activation { kLinear, kRelu, kSigmoid, kTanh };
const char* to_string(Activation a);
// "linear", "relu", "sigmoid", "tanh"; throws InputError otherwise.
Activation parse_activation(const std::string& name);

struct Architecture {
  std::vector<int> sizes;               // L + 1 widths: input, hidden..., classes
  std::vector<Activation> activations;  // L entries; the last must be linear (logits)
  double w_max = 1.0;                   // programmable weight range [-w_max, w_max]

  size_t num_layers() const { return activations.size(); }
  int inputs() const { return sizes.front(); }
  int outputs() const { return sizes.back(); }
  size_t num_params() const;
  // Throws InputError unless every width >= 1, sizes.size() == L + 1 >= 2, the last
  // activation is linear and w_max is finite and > 0.
  void validate() const;
  std::string describe() const;  // "784-256-128-64-32-10 relu, w_max 1"

  // The default of the reproduction: kDefaultArchitecture, relu (SPEC §5).
  static Architecture default_mnist();
  // Same widths, activations and w_max (exactly): the same programmable network.
  bool operator==(const Architecture& o) const {
    return sizes == o.sizes && activations == o.activations && w_max == o.w_max;
  }
  bool operator!=(const Architecture& o) const { return !(*this == o); }
  // Widths "784,256,10" or "784-256-10" with one hidden activation for all hidden layers.
  static Architecture from_string(const std::string& widths, Activation hidden, double w_max);
};

template <class T>
class NetworkT {
 public:
  NetworkT() = default;
  // All parameters zero. Requires arch.validate() to pass (checked).
  explicit NetworkT(Architecture arch);

  const Architecture& arch() const { return arch_; }
  size_t num_layers() const { return arch_.num_layers(); }
  VecT<T>& params() { return params_; }
  const VecT<T>& params() const { return params_; }
  size_t weight_offset(size_t l) const { return offsets_[l]; }
  size_t bias_offset(size_t l) const {
    return offsets_[l] + static_cast<size_t>(arch_.sizes[l + 1]) * arch_.sizes[l];
  }

  // W_l: O x I view into params; b_l: 1 x O view.
  Eigen::Map<MatT<T>> weight(size_t l);
  Eigen::Map<const MatT<T>> weight(size_t l) const;
  Eigen::Map<RowVecT<T>> bias(size_t l);
  Eigen::Map<const RowVecT<T>> bias(size_t l) const;

  // He-uniform weights (limit sqrt(6 / I), clipped to w_max), zero biases; from seed.
  void init(uint64_t seed);
  // Clips every weight to [-w_max, w_max].
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
