#include "gift/insitu/simulated_device.h"

#include "gift/core/error.h"
#include "gift/onn/forward.h"
#include "gift/train/engine.h"

namespace gift {

namespace {
bool same_arch(const Architecture& a, const Architecture& b) {
  return a.sizes == b.sizes && a.activations == b.activations && a.w_max == b.w_max;
}
}  // namespace

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
  if (!same_arch(net.arch(), arch_)) {
    throw InputError("device: cannot program " + net.arch().describe() + " onto a device of " +
                     arch_.describe());
  }
  if (!net.all_finite()) throw InputError("device: refusing to program weights holding NaN or inf");
  programmed_ = apply_imperfections(net, opts_.imperfections, opts_.seed);
  has_weights_ = true;
  ++counters_.programmings;
}

DeviceOutput SimulatedDevice::forward(const Mat& x, bool taps) {
  if (!has_weights_) throw InputError("device: forward before any weights were programmed");
  if (taps && !opts_.taps) throw InputError("device: this device exposes only its final output");
  if (x.cols() != arch_.inputs()) {
    throw InputError("device: input has " + std::to_string(x.cols()) + " columns, the chip has " +
                     std::to_string(arch_.inputs()) + " inputs");
  }
  const int B = static_cast<int>(x.rows());
  const NoiseDraws draws{opts_.seed, Purpose::kDeviceNoise,
                         static_cast<uint32_t>(counters_.forwards), 0};
  DeviceOutput out;
  const size_t L = arch_.num_layers();
  if (taps) out.sums.assign(L, Mat());
  out.out.resize(B, arch_.outputs());
  constexpr int kBlock = 64;
  const int blocks = (B + kBlock - 1) / kBlock;
  const int threads = resolve_threads(opts_.threads);
  std::exception_ptr error;
  if (taps) {
    for (size_t l = 0; l < L; ++l) out.sums[l].resize(B, arch_.sizes[l + 1]);
  }
#pragma omp parallel num_threads(threads)
  {
    Tape<float> tape;
    const FlushSubnormals ftz;
#pragma omp for schedule(dynamic, 1)
    for (int k = 0; k < blocks; ++k) {
      try {
        const int r0 = k * kBlock, n = std::min(kBlock, B - r0);
        NoiseDraws d = draws;
        d.first_sample = static_cast<uint64_t>(r0);
        network_forward<float>(tape, programmed_, x.middleRows(r0, n), opts_.noise, &d);
        out.out.middleRows(r0, n) = tape.logits();
        if (taps) {
          for (size_t l = 0; l < L; ++l) out.sums[l].middleRows(r0, n) = tape.layers[l].z;
        }
      } catch (...) {
#pragma omp critical
        error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  ++counters_.forwards;
  counters_.passes += static_cast<uint64_t>(B);
  return out;
}

}  // namespace gift
