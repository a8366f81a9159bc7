#include "gift/insitu/simulated_device.h"

#include <algorithm>
#include <limits>

#include "gift/core/error.h"
#include "gift/core/threads.h"
#include "gift/onn/forward.h"

namespace gift {

SimulatedDevice::SimulatedDevice(const Architecture& arch, SimulatedDeviceOptions options)
    : arch_(arch), opts_(std::move(options)) {
  arch_.validate();
  if (opts_.noise.layers.empty()) opts_.noise = NoiseModel::none(arch_.num_layers());
  opts_.noise.validate(arch_.num_layers(), "device noise");
  opts_.imperfections.validate("device imperfections");
  resolve_threads(opts_.threads);
}

DeviceInfo SimulatedDevice::info() const { return {arch_, opts_.taps, "simulated"}; }

void SimulatedDevice::program(const Network& net) {
  if (net.arch() != arch_) {
    throw InputError("device: cannot program " + net.arch().describe() + " onto a device of " +
                     arch_.describe());
  }
  if (!net.all_finite()) throw InputError("device: refusing to program weights holding NaN or inf");
  programmed_ = apply_imperfections(net, opts_.imperfections, opts_.seed);
  weight_stats(w_sq_, programmed_, opts_.noise);
  has_weights_ = true;
  ++counters_.programmings;
}

DeviceOutput SimulatedDevice::forward(const Mat& x, bool taps) {
  std::vector<DeviceOutput> outs = run(x, 1, taps);
  return std::move(outs[0]);
}

std::vector<Mat> SimulatedDevice::forward_passes(const Mat& x, int passes) {
  std::vector<DeviceOutput> outs = run(x, passes, false);
  std::vector<Mat> out;
  for (DeviceOutput& o : outs) out.push_back(std::move(o.out));
  return out;
}

std::vector<DeviceOutput> SimulatedDevice::run(const Mat& x, int passes, bool taps) {
  if (!has_weights_) throw InputError("device: forward before any weights were programmed");
  if (!x.allFinite()) throw InputError("device: refusing to run inputs holding NaN or inf");
  if (taps && !opts_.taps) throw InputError("device: this device exposes only its final output");
  if (x.cols() != arch_.inputs()) {
    throw InputError("device: input has " + std::to_string(x.cols()) + " columns, the chip has " +
                     std::to_string(arch_.inputs()) + " inputs");
  }
  if (passes < 1) throw InputError("device: passes must be >= 1");
  const int B = static_cast<int>(x.rows());
  const size_t L = arch_.num_layers();
  std::vector<DeviceOutput> outs(static_cast<size_t>(passes));
  for (DeviceOutput& out : outs) {
    out.out.resize(B, arch_.outputs());
    if (taps) {
      out.sums.assign(L, Mat());
      for (size_t l = 0; l < L; ++l) out.sums[l].resize(B, arch_.sizes[l + 1]);
    }
  }
  constexpr int kBlock = 64;
  const int blocks = (B + kBlock - 1) / kBlock;
  const int threads = resolve_threads(opts_.threads);
  std::exception_ptr error;
  // The first non-finite value, as 2 * layer (its detected sum) or 2 * layer + 1 (its output).
  int first_bad = std::numeric_limits<int>::max();
#pragma omp parallel num_threads(threads)
  {
    Tape<float> tape;
    FirstLayer<float> first;
    const FlushSubnormals ftz;
#pragma omp for schedule(dynamic, 1)
    for (int k = 0; k < blocks; ++k) {
      try {
        const int r0 = k * kBlock, n = std::min(kBlock, B - r0);
        // Pass p draws the noise of forward call number counters_.forwards + p; layer 0's
        // noiseless product is the same in every pass.
        first_layer<float>(first, programmed_, x.middleRows(r0, n), opts_.noise, &w_sq_);
        for (int p = 0; p < passes; ++p) {
          const NoiseDraws d{opts_.seed, Purpose::kDeviceNoise,
                             static_cast<uint32_t>(counters_.forwards + static_cast<uint64_t>(p)),
                             static_cast<uint64_t>(r0)};
          network_forward_from<float>(tape, programmed_, first, opts_.noise, d, &w_sq_);
          for (size_t l = 0; l < L; ++l) {
            const int bad = !tape.layers[l].z.allFinite()   ? static_cast<int>(2 * l)
                            : !tape.layers[l].a.allFinite() ? static_cast<int>(2 * l + 1)
                                                            : -1;
            if (bad < 0) continue;
#pragma omp critical
            first_bad = std::min(first_bad, bad);
            break;
          }
          DeviceOutput& out = outs[static_cast<size_t>(p)];
          out.out.middleRows(r0, n) = tape.logits();
          if (taps) {
            for (size_t l = 0; l < L; ++l) out.sums[l].middleRows(r0, n) = tape.layers[l].z;
          }
        }
      } catch (...) {
#pragma omp critical
        error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  if (first_bad != std::numeric_limits<int>::max()) {
    // Inputs and weights are finite, so the noise made it: a std so large that the drawn
    // noise, or the signal it drove, overflowed float32. A chip would saturate instead.
    throw InputError(std::string("simulated device: ") +
                     (first_bad % 2 ? "the output" : "the detected sum") + " of layer " +
                     std::to_string(first_bad / 2) +
                     " holds inf or NaN: the simulated noise overflowed float32 (the device's "
                     "noise stds are too large for this network: " +
                     opts_.noise.describe() + ")");
  }
  counters_.forwards += static_cast<uint64_t>(passes);
  counters_.passes += static_cast<uint64_t>(B) * static_cast<uint64_t>(passes);
  return outs;
}

}  // namespace gift
