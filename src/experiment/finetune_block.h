// The "finetune" block of study configs (sweep and frontier): the fine-tuning options every
// cell runs with, and the size of the lab's labelled set; internal to the library, not installed.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "gift/insitu/finetune.h"

namespace gift::experiment::detail {

using nlohmann::json;

// One reader and one writer of the fine-tuning options in sweep and frontier configs: keys
// epochs, retrain_epochs, batch_size, lr, score_repeats, accept_z, holdout, score, calib_inputs,
// calib_repeats, calib_size, checks, fit_data, optimizer, schedule, rescale (these three written
// only when not the default, so older directories still resume), and (with `budgets`)
// budget_gradients and budget_passes. Absent keys keep the values of `o` and `calib_size`;
// unknown keys are refused.
void finetune_from_json(const json& f, FinetuneOptions& o, size_t& calib_size, bool budgets,
                        const std::string& what);
json finetune_to_json(const FinetuneOptions& o, size_t calib_size, bool budgets);
// The limits of experiment.h's kMaxSweep* on those options, calib_inputs in [2, calib_size],
// and a hold-out that leaves images to fit; messages start with "<owner>: finetune.<key>".
void check_finetune(const std::string& owner, const FinetuneOptions& o, size_t calib_size);

// Throws InputError("<what> <calib_size> leaves none of the <test_size> test images ...") unless
// calib_size < test_size: the lab's images are drawn from the test split, and the rest measure
// accuracy. `test_limited` says that test_limit cut the split.
void check_lab_size(const std::string& what, size_t calib_size, size_t test_size, bool test_limited,
                    const std::string& data_dir);

}  // namespace gift::experiment::detail
