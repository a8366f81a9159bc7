// In situ fine-tuning methods (SPEC §4), one interface chosen by name:
//   gift     a rescale step (each layer scaled towards the weight range as far as the twin's
//            error rate under the calibrated noise prefers), then Adam on twin gradients under
//            the calibrated noise; the device only calibrates and scores.
//   diff     as gift without the rescale step, stepping along grad R(θ; s_est) - grad R(θ;
//            s_hat) with common random numbers: only the noise-induced part of the gradient.
//   hil      hardware in the loop: forward on the device (taps), backward through the measured
//            sums with the calibrated noise's draws inferred from them; reprograms every step.
//   retrain  noise-aware retraining from θ̂ at s_est on the training set (batch 128, cosine).
//   none     the baseline.
// Every method reports device passes, programmings, per-sample gradients and digital time.
//
// Every method but none runs under one plan and one guard: the calibration set (the lab's
// labelled images) is scored and, with FitData::kCalibration, split into images to fit and a
// held-out part to score; with FitData::kTraining the training set less the scored images is
// fitted. The guard: with `checks` <= 1 nothing is chosen along the way; the end of the plan is
// measured on the whole hold-out, paired per image with the start. With several checks the
// hold-out is split in two disjoint halves: the checks are scored on the first, the best that
// beats the start there is measured afresh on the second and tested there. Either way the test
// sees images no choice has seen, so it keeps its level (one-sided 1 - Phi(accept_z)): an exact
// sign test on the per-image errors (accuracy), Student's t on the per-image losses (loss).
// Steps, checks and calibration are planned within the two budgets.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/insitu/calibration.h"
#include "gift/insitu/device.h"
#include "gift/insitu/lab_data.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"
#include "gift/train/optimizer.h"
#include "gift/train/trainer.h"

namespace gift {

// What gift's scoring on the device minimises.
enum class ScoreBy { kAccuracy, kLoss };
const char* to_string(ScoreBy s);
ScoreBy parse_score_by(const std::string& name);  // "accuracy" | "loss"

// Where the labelled images a method fits come from: only the lab's calibration set, or the
// in silico training set (wherever the network was trained, that data exists). Either way
// the scoring hold-out of the calibration set is never fitted.
enum class FitData { kCalibration, kTraining };
const char* to_string(FitData d);
FitData parse_fit_data(const std::string& name);  // "calib" | "train"

// Defaults chosen by measurement (scripts/method-grid.sh, docs/method.md).
struct FinetuneOptions {
  FinetuneOptions() { optimizer.lr = 3e-3; }
  int epochs = 30;         // over the images fitted (gift, diff, hil), unless a budget ends it
  int retrain_epochs = 5;  // retrain: over the training set, batch 128, cosine schedule
  int batch_size = 64;
  OptimizerOptions optimizer;                 // Adam, lr 3e-3
  LrSchedule schedule = LrSchedule::kCosine;  // over the planned steps
  // gift's structured first step: scale each layer towards the weight range by the fraction
  // the twin prefers under the calibrated noise (rescale_step in twin_methods.cc). The fractions
  // tried (in log scale) are 1/n, 2/n, ..., 1 for n = rescale_points; each candidate and the
  // start are judged by the twin's error rate on up to rescale_images fitted images over
  // rescale_repeats draws (common to every candidate), and one is taken only if it beats the
  // start by more than rescale_threshold standard errors of the paired per-image difference.
  bool rescale = true;
  int rescale_points = 5;
  int rescale_repeats = 2;
  int rescale_images = 1024;
  double rescale_threshold = 2.0;
  // Device scores along the way, the last at the end (fewer if passes run short). With 2 or more
  // the hold-out is halved: one half selects among the checks, the other confirms.
  int checks = 1;
  int score_repeats = 1;  // device passes of each scoring image per score
  // Fraction of the calibration set held out for scoring (device loss after each epoch and
  // the acceptance test); gift and diff fit only the rest. Scoring on the images being fitted
  // accepts over-fitting (docs/method.md has the numbers).
  double holdout = 0.3;
  ScoreBy score_by = ScoreBy::kAccuracy;  // the device criterion for the best epoch and acceptance
  // The acceptance test's one-sided level is 1 - Phi(accept_z) (1.645: 5%).
  double accept_z = 1.645;
  bool calibrate = true;  // false: use `noise` as the estimate (ablations, tests)
  NoiseModel noise;       // the estimate when calibrate is false
  NoiseModel assumed;     // s_hat: the noise the network was trained under (empty: none)
  CalibrationOptions calibration;
  FitData fit_data = FitData::kTraining;
  // Budgets, 0 = none; the defaults are the envelope docs/method.md targets. Per-sample gradients
  // (digital cost) and device passes (samples sent through the chip, calibration and scoring
  // included). A method plans within both and stops before it would exceed either; a budget too
  // small for the method's fixed costs (calibration, the start and final scores) is an InputError
  // naming what it needs.
  uint64_t budget_gradients = 30000;
  uint64_t budget_passes = 5000;
  uint64_t seed = 1;
  int threads = 0;
  // `assumed`, or no noise on every layer of `arch` when it is empty.
  NoiseModel assumed_noise(const Architecture& arch) const;
  void validate(const Architecture& arch) const;
};

// One check: the device's score of the network at a point of the plan (FinetuneOptions::checks
// of them, evenly spaced; not one per epoch). Reports write them as "checks".
struct CheckScore {
  int check = 0;                            // 1-based index of the check
  uint64_t step = 0, sample_gradients = 0;  // where it was taken
  double device_loss = 0, device_se = 0;    // mean CE on the calibration set and its error
  double device_accuracy = 0;
  double twin_loss = 0;  // the twin's loss on the scoring images under the estimated noise
};

struct FinetuneReport {
  std::string method;
  bool calibrated = false;
  Calibration calibration;
  NoiseModel noise_used;                    // s_est
  size_t fit_images = 0, score_images = 0;  // the split of the calibration set
  size_t select_images = 0;   // the hold-out's images that choose among checks (0: no choice)
  size_t confirm_images = 0;  // ... that the acceptance test measures (the rest)
  // On the confirmation images: the start's device loss (standard error over images) and
  // accuracy, and the same for what is returned (the start's own when it is kept).
  double start_loss = 0, start_se = 0;
  double final_loss = 0, final_se = 0;
  double start_accuracy = 0, final_accuracy = 0;
  // The acceptance test (tested: a candidate reached it): the candidate on the confirmation
  // images, the paired gain over the start (error-rate or loss reduction, by `score_by`) with its
  // standard error over images, the images it is better and worse on, the one-sided p-value
  // and the level it was held to. Conditional on acceptance the gain is biased upwards (it
  // passed a test); the lab's judged images (gift finetune's "after") measure it unbiased.
  bool tested = false;
  bool score_by_accuracy = true;  // the test: exact sign test (accuracy) or paired t (loss)
  double candidate_loss = 0, candidate_accuracy = 0;
  double gain = 0, gain_se = 0, p_value = 1, level = 0.05;
  long images_better = 0, images_worse = 0;
  std::vector<CheckScore> checks;
  int best_check = 0;           // the chosen check's index; 0: the start
  bool budget_limited = false;  // a budget cut the method's plan short
  uint64_t twin_forwards = 0;   // forward-only twin evaluations (gift's rescale step)
  std::vector<double> rescale;  // gift: the per-layer scale of its first step
  bool accepted = false;
  // Alignment: over the checks, the fraction of steps where the twin's predicted loss change
  // and the device's measured one have the same sign, and their correlation.
  double sign_agreement = 0, correlation = 0;
  uint64_t device_passes = 0, device_programmings = 0;
  uint64_t sample_gradients = 0;  // per-sample gradient evaluations (digital cost)
  uint64_t budget_gradients = 0, budget_passes = 0;  // as given (0 = none)
  FitData fit_data = FitData::kTraining;
  double digital_seconds = 0, device_seconds = 0;
  std::string summary() const;  // its JSON form: finetune_report_to_json (insitu/report_json.h)
};

class FinetuneMethod {
 public:
  virtual ~FinetuneMethod() = default;
  virtual std::string name() const = 0;
  // Fine-tunes `net` in place using `device`; `calib` is the small labelled set, `train`
  // the full training set (only retrain uses it). Leaves `net` programmed on the device.
  virtual FinetuneReport run(Network& net, Device& device, const data::Dataset& calib,
                             const data::Dataset& train, const FinetuneOptions& options) = 0;
};

// The oracle as a fair reference (physical chain): `net`, trained in silico at the true noise
// `truth`, given the step every method may take without the chip: gift's within-layer rescale
// (weights towards the range, gains undoing it), chosen by the twin under `truth` on up to
// 1,024 of `data`'s images. A legacy-chain network is returned unchanged.
Network oracle_reference(const Network& net, const data::Dataset& data, const NoiseModel& truth,
                         uint64_t seed, int threads);

}  // namespace gift
