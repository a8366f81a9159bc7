// In situ access to a photonic chip (SPEC §3): the only way fine-tuning may touch a
// device. Methods program weights, run batches and read the detected outputs; they
// never see the true noise, the fixed errors or the noise draws.
//
// Memory layout at the interface: weights are a Network's flat parameter buffer
// [W_0 (O_0 x I_0, row-major) | b_0 | W_1 | b_1 | ...] (float32); a batch is B x I_0
// (one sample per row, row-major float32); taps are, per layer, the detected sums
// z_l (B x O_l) and the final output (B x O_L, the logits after output noise).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/onn/network.h"

namespace gift {

struct DeviceInfo {
  Architecture arch;  // the layer widths, activations and weight range the chip implements
  bool taps = true;   // whether forward can return every layer's detected sum
  std::string name;   // e.g. "simulated" or the external server's self-description
};

struct DeviceOutput {
  std::vector<Mat> sums;  // z_l per layer (B x O_l); empty unless requested and available
  Mat out;                // B x O_L, the final detected output
};

// Counters of in situ cost (what a lab pays for).
struct DeviceCounters {
  uint64_t passes = 0;        // samples sent through the chip (rows of every forward)
  uint64_t forwards = 0;      // forward calls (batches)
  uint64_t programmings = 0;  // program calls
};

class Device {
 public:
  virtual ~Device() = default;
  virtual DeviceInfo info() const = 0;
  // Sets the weights (the device applies its own range, resolution and fixed errors).
  // Throws InputError if `net`'s architecture differs from info().arch.
  virtual void program(const Network& net) = 0;
  // Runs x (B x I_0) through the programmed chip; every call draws fresh noise.
  // Throws InputError before any program call, on a width mismatch, or when taps
  // are requested from a device without them.
  virtual DeviceOutput forward(const Mat& x, bool taps) = 0;
  // `passes` forward calls of the same x without taps, their final outputs in order: what a
  // Monte-Carlo accuracy needs. Counted as `passes` calls. A device may do it faster (the
  // simulated one computes its first layer's noiseless product once) but must give the same
  // outputs as the calls one by one.
  virtual std::vector<Mat> forward_passes(const Mat& x, int passes) {
    std::vector<Mat> outs;
    for (int p = 0; p < passes; ++p) outs.push_back(forward(x, false).out);
    return outs;
  }
  virtual DeviceCounters counters() const = 0;
};

// Throws InputError unless every number of `out` is finite, naming `who` (the device), the
// matrix (the detected sum of layer l, or the final output), its row and column:
// "<who>: returned NaN in the final output (row 0, column 1); a device's outputs must be finite". A
// NaN or inf reading would score as a wrong answer and be fitted as a noiseless chip, so no number
// is made from one.
void check_device_output(const DeviceOutput& out, const std::string& who);

// A pass-through that checks every call (the one place every device kind is checked, whatever
// its transport: simulated, external, Python): program refuses weights holding NaN or inf, and
// forward and forward_passes refuse output holding them (check_device_output, naming the
// wrapped device's info().name). Fine-tuning (every method, its calibration included) and
// device_accuracy talk to their device through it. It counts what it forwards itself: its
// counters() are the rows, calls and programmings it passed on since it was made (a forward
// the device answered counts, even when its output is refused), never the wrapped device's
// own counters(), which a Python or external device may misreport; budgets and reports read
// these. The wrapped device's forward_passes is called as it is.
class CheckedDevice : public Device {
 public:
  explicit CheckedDevice(Device& inner);
  DeviceInfo info() const override { return inner_.info(); }
  void program(const Network& net) override;
  DeviceOutput forward(const Mat& x, bool taps) override;
  std::vector<Mat> forward_passes(const Mat& x, int passes) override;
  DeviceCounters counters() const override { return counted_; }

 private:
  std::string who() const;  // "device 'NAME'", read from inner's info() when an error is made
  Device& inner_;
  DeviceCounters counted_;
};

}  // namespace gift
