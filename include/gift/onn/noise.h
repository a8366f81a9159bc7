// The noise configuration of a photonic network (SPEC §2), a plain value.
//
// Per pass, for layer l with input h (B x I, intensities), transmissions W (O x I), in the
// units of the detected sum (1 = one input at full intensity through a weight of 1):
//   m = h Wᵀ, and with W± = max(±W, 0) the powers on the two detectors of each balanced pair
//   P = h |W|ᵀ (their sum) and m (their difference), P± = (P ± m) / 2.
//   weight, relative    std s_w sqrt(Σ_j W_ij² h_j²)   (W ⊙ (1 + s_w ξ), local reparameterisation)
//   weight_add, abs.    std s_t sqrt(Σ_j h_j²)          (transmission noise that does not vanish
//                                                        at W = 0: a balanced pair, a phase)
//   in_add, abs.        h_j + s_in ξ_j on every input   (modulator intensity noise, layer 0
//                                                        included; one draw per input, shared by
//                                                        every neuron: variance s_in² Σ_j W_ij²)
//   shot, abs.          std s_sh sqrt(P)                (variance ∝ the power on the detectors)
//   rin, relative       std s_r sqrt(P+² + P-²)         (laser RIN on each arm's power)
//   u = m + Σ of those std ⊙ ξ
//   sum_mult, relative  u ⊙= (1 + s_m ξ)               (gain fluctuation of the optical sum)
//   drift, relative     u ⊙= (1 + s_d ζ), ζ drawn once per forward call and neuron, shared by
//                       every sample of the call (slow thermal / gain drift)
//   sum_add, abs.       u += s_a ξ                      (detector + amplifier thermal noise)
//   legacy chain:   z = u (the bias is inside m: m = h Wᵀ + b),  a = φ(z) + s_o ξ
//   physical chain: z = g ⊙ u + b,  a = clamp(φ(z), 0, 1) + s_o ξ on hidden layers (the
//                   modulator saturates; s_o is the intensity noise it emits, the same as the
//                   next layer's in_add), a = φ(z) + s_o ξ on the last (read out digitally)
//   out_add, abs.   s_o ξ on the output (electronic nonlinearity / re-modulation)
//   then a is clipped to ±output_clip if output_clip > 0.
// ξ are fresh independent standard normals on every pass. All zero = an ideal device.
// docs/model.md gives each source's physical origin, units and default.
// Three roles hold different NoiseModels: the digital twin (assumed noise), the
// device (true noise), the oracle (trained at the true noise).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace gift {

enum class NoiseSite {
  kWeight = 0,
  kSumMult = 1,
  kSumAdd = 2,
  kOutAdd = 3,
  kShot = 4,
  kRin = 5,
  kWeightAdd = 6,
  kInAdd = 7,
  kDrift = 8,
};
constexpr int kNumNoiseSites = 9;
// The position of `site` in per-site arrays (LayerTape::xi, noise_sites()).
constexpr int site_index(NoiseSite site) { return static_cast<int>(site); }

struct LayerNoise;

// One noise site, declared once in noise_sites(): everything that lists the sites (names,
// JSON keys, CLI flags, validation, draws) loops over that table. A new site is an enum
// value, a LayerNoise member, a row of the table, and its arithmetic in onn/forward.cc.
struct NoiseSiteInfo {
  NoiseSite site;
  const char* name;       // "sum_add": JSON key, --site value, describe()
  const char* flag;       // "sum-add": the CLI option is --noise-<flag> (--<role>-noise-<flag>)
  const char* flag_help;  // "additive sum (detector) noise std s_a"
  bool relative;          // std relative to the signal (true) or in its units (false)
  uint32_t stream_id;     // fixed forever: picks the draw stream (noise_stream_word)
  double LayerNoise::*member;
};

// The sites in enum order (noise_sites()[site_index(s)].site == s).
const std::array<NoiseSiteInfo, kNumNoiseSites>& noise_sites();
const NoiseSiteInfo& site_info(NoiseSite site);
const char* to_string(NoiseSite site);
// Accepts "weight", "sum_mult", "sum_add", "out_add"; throws InputError otherwise.
NoiseSite parse_noise_site(const std::string& name);
// The site names in order joined by ", ", the last two by `last_sep`
// (e.g. "weight, sum_mult, sum_add or out_add").
std::string noise_site_names(const std::string& last_sep = ", ");

// The stream word c of the draws of `site` on `layer` (RngStream's last word, NoiseDraws).
// Stream ids 0..3 (the first four sites) keep c = layer * 4 + id, the words used since the
// start, so their draws never change; an id >= 4 gets c = 0x80000000 | id << 20 | layer,
// disjoint from those for layer < 2^18 (and from each other for layer < 2^20), so a new
// site never shifts the draws of the existing ones. Throws InternalError for an id >= 4
// unless id < 2048 and layer < 2^20.
uint32_t noise_stream_word(size_t layer, uint32_t stream_id);

// Standard deviations of the sites for one layer (all >= 0).
struct LayerNoise {
  double weight = 0;      // s_w, relative
  double sum_mult = 0;    // s_m, relative
  double sum_add = 0;     // s_a, absolute (units of the detected sum)
  double out_add = 0;     // s_o, absolute (units of the activation)
  double shot = 0;        // s_sh, absolute: std sqrt(P) s_sh (P in units of the detected sum)
  double rin = 0;         // s_r, relative to each arm's power
  double weight_add = 0;  // s_t, absolute (units of a transmission)
  double in_add = 0;      // s_in, absolute (units of an input intensity)
  double drift = 0;       // s_d, relative, one draw per forward call

  double& at(NoiseSite site);
  double at(NoiseSite site) const;
  bool any() const;  // some std > 0
};

struct NoiseModel {
  std::vector<LayerNoise> layers;  // one per layer, L entries
  double output_clip = 0;          // detector/re-modulation saturation; 0 = none

  // An ideal device with `num_layers` layers.
  static NoiseModel none(size_t num_layers);
  // The same std at `site` on every layer, other sites 0.
  static NoiseModel uniform(size_t num_layers, NoiseSite site, double std);

  bool any() const;
  // Throws InputError (naming `what`) unless there are `num_layers` layers and every
  // std and output_clip is finite and >= 0. There is no upper bound: what an absolute std
  // means depends on w_max and the units of the inputs, so any fixed cap would be arbitrary.
  // A std so large that float32 overflows is refused where it does harm: a SimulatedDevice
  // throws instead of returning NaN or inf, and training reports a non-finite loss.
  void validate(size_t num_layers, const std::string& what = "noise model") const;
  // Every std multiplied by `factor` (>= 0).
  NoiseModel scaled(double factor) const;
  // A short human-readable form, e.g. "sum_add=0.1" or "sum_add=[0.1,0.2,...]".
  std::string describe() const;
};

// Named noise mixes of a hardware class (docs/model.md derives each value and names its
// source): "soa", the incoherent SOA cross-connect of the GIFT paper's authors (weights as SOA
// gains, balanced detection): thermal 0.1, shot 0.01, rin 0.01, weight 0.01 on every layer.
// Throws InputError for another name.
NoiseModel noise_preset(const std::string& name, size_t num_layers);
// "soa" (the names noise_preset accepts, joined by ", ").
std::string noise_preset_names();

}  // namespace gift
