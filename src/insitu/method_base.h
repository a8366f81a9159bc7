// Internal to src/insitu: what every fine-tuning method shares. The plan and the guard
// (MethodBase::run: the calibration set split into images to fit and a scoring hold-out, the
// budgets, calibration, the device's score of the start, the checks along the way and the
// acceptance test), the pieces the methods' tune() steps use, and the methods' factories, which
// the registry (methods.cc) lists; each factory is defined in its method's own source file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gift/insitu/finetune.h"
#include "gift/train/engine.h"

namespace gift {

std::unique_ptr<FinetuneMethod> make_gift_method();
std::unique_ptr<FinetuneMethod> make_diff_method();
std::unique_ptr<FinetuneMethod> make_retrain_method();
std::unique_ptr<FinetuneMethod> make_hil_method();
std::unique_ptr<FinetuneMethod> make_none_method();

namespace finetune_detail {

// Word b of Purpose::kFitShuffle, one per method that shuffles the images it fits.
enum FitShuffleStream : uint32_t {
  kGiftStream = 0,
  kDiffStream = 1,
  kRetrainStream = 2,
  kHilStream = 3
};

constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

struct Score {
  double loss = 0, se = 0, accuracy = 0;  // se: of the mean loss, from the spread over images
  std::vector<double> per_image;          // mean loss of each image over the passes
  std::vector<double> per_image_err;      // fraction of the passes that misclassified each image
  // The number that scoring minimises: the mean loss, or the error rate.
  double objective(ScoreBy by) const { return by == ScoreBy::kLoss ? loss : 1 - accuracy; }
  const std::vector<double>& per_image_objective(ScoreBy by) const {
    return by == ScoreBy::kLoss ? per_image : per_image_err;
  }
};

// The acceptance test of `cand` against `start`, measured on the same images: per image the
// gain d_i = start_i - cand_i of the objective (error rate or loss; positive: the candidate is
// better), its mean and standard error over images, and the one-sided p-value of "no better"
// (exact sign test on accuracy, Student's t on the loss; core/stats.h).
struct PairedTest {
  double gain = 0, se = 0, p = 1;
  long better = 0, worse = 0;  // images where the candidate is better / worse
  size_t n = 0;
};
PairedTest paired_test(const Score& start, const Score& cand, ScoreBy by);

// Programs `net` and measures its loss on `set` over `repeats` device passes.
Score device_score(Device& device, const Network& net, const data::Dataset& set, int repeats);

// The twin's mean loss on `set` under `noise`, with fixed draws (common random numbers
// across calls, so differences between weights are not swamped by draw noise).
double twin_loss(Engine& engine, const Network& net, const data::Dataset& set,
                 const NoiseModel& noise, uint64_t seed);

// Rows of a labelled matrix, chosen by index: the images a method fits.
struct RowSet {
  const Mat* images = nullptr;
  const std::vector<int>* labels = nullptr;
  std::vector<uint32_t> rows;
  size_t size() const { return rows.size(); }
  // xb, yb = rows[perm[b0 .. b0 + n)].
  void gather(const std::vector<uint32_t>& perm, size_t b0, size_t n, Mat& xb,
              std::vector<int>& yb) const;
};

// gift's rescale step (twin_methods.cc): every layer scaled towards the weight range as far as
// the twin's error rate under `noise` prefers (o's rescale_* tunables and seed); returns the
// images forwarded, *chosen the factors.
uint64_t rescale_step(Network& net, Engine& engine, const RowSet& fit, const NoiseModel& noise,
                      const FinetuneOptions& o, std::vector<double>* chosen);

// What a run may still spend, and the images the device scores. The scoring hold-out is
// never fitted. With one check or none (FinetuneOptions::checks <= 1) nothing is selected
// along the way: the end of the plan is the candidate and the whole hold-out confirms it.
// With several checks the hold-out is split in two disjoint halves (`split`): the checks are
// scored on `select`, the best is chosen there, and the acceptance test measures it afresh on
// `confirm`, images no choice has seen, so the test keeps its level whatever the checks.
struct Context {
  Device* device = nullptr;
  const FinetuneOptions* o = nullptr;
  FinetuneReport* r = nullptr;
  RowSet fit;
  data::Dataset score;        // the whole hold-out (select and confirm), never fitted
  data::Dataset select;       // the checks' images (empty unless split)
  data::Dataset confirm;      // the acceptance test's images
  bool split = false;         // several checks: select and confirm are disjoint halves
  uint64_t check_cost = 0;    // device passes of one check (0 unless split)
  uint64_t confirm_cost = 0;  // device passes of the confirmation
  Score start_select;         // the start on `select` (split only)
  // The images the checks are scored on (select, or confirm when nothing is selected), and the
  // start's device loss there: what the twin's predictions are compared with.
  const data::Dataset& check_images() const { return split ? select : confirm; }
  double check_start_loss() const;
  uint64_t passes0 = 0;  // the device's pass counter at the start
  uint64_t passes_spent() const { return device->counters().passes - passes0; }
  uint64_t passes_left() const;
  uint64_t gradients_left() const;
};

// The batch sizes of at most `epochs` epochs of `n` images in batches of `batch`, each
// batch costing `grads_per_image` gradients and `passes_per_image` device passes, within
// the given allowances. Sets *limited when an allowance cut the plan.
std::vector<size_t> plan_steps(size_t n, size_t batch, int epochs, uint64_t grads_per_image,
                               uint64_t grad_allowance, uint64_t passes_per_image,
                               uint64_t pass_allowance, bool* limited);

// How many checks fit in `passes` (the pass allowance left for checks, the confirmation
// already set aside); 0 unless the hold-out is split.
int affordable_checks(const Context& c, uint64_t passes);

// What a plan hands to the acceptance test: the best network and, when the plan measured it
// on the confirmation images itself (no checks: the end is the candidate), that measurement.
struct Candidate {
  Network net;
  bool moved = false;      // differs from the start
  bool confirmed = false;  // `score` is `net` measured on the confirmation images
  Score score;
};

// Runs the planned steps (`step(i, n)` changes `net` with a batch of n images). With a split
// hold-out, scores the device on the selection images at `checks` evenly spaced steps (the
// last at the end) and keeps the best that beats the start there. Otherwise the end is the
// candidate (if it moved: steps were taken, or `start_moved`, a structured first step changed
// it), measured on the confirmation images and recorded as the one check.
Candidate run_plan(Network& net, Context& c, const std::vector<size_t>& steps, int checks,
                   const std::function<void(size_t, size_t)>& step,
                   const std::function<double(const Network&)>& twin_score,
                   bool start_moved = false);

// The sign agreement and correlation of the twin's and the device's loss changes over the
// checks (from `start_twin` and the start's device loss on the check images).
void finish_alignment(FinetuneReport& r, double start_twin, double start_device);

// The plan and the guard every method runs under; a method supplies only tune().
class MethodBase : public FinetuneMethod {
 public:
  FinetuneReport run(Network& net, Device& device, const data::Dataset& calib,
                     const data::Dataset& train, const FinetuneOptions& options) override;

 protected:
  // Whether the method fits the training set whatever FitData says (retrain).
  virtual bool fits_training() const { return false; }
  // Runs the method's plan from `net` (left at the last step); returns the best candidate.
  virtual Candidate tune(Network& net, Context& c) = 0;

 private:
  void prepare(Context& c, Network& net, const data::Dataset& calib, const data::Dataset& train);
};

}  // namespace finetune_detail
}  // namespace gift
