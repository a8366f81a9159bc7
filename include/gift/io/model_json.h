// The JSON forms of the model's value types, one reader and one writer each, used by every
// file and message that holds them (checkpoints, the device protocol, sweep configs and
// rows, reports). The numerical headers (onn/, train/) know nothing of JSON.
//
//   Architecture  {"sizes": [784, 256, ..., 10], "activations": ["relu", ..., "linear"],
//                  "w_max": 1.0}                        all three keys required
//   NoiseModel    {"weight": [L numbers], "sum_mult": [...], "sum_add": [...],
//                  "out_add": [...], "output_clip": c}  every key optional (0 when absent)
//   Imperfections {"gain_std": s, "weight_bits": B, "row_gain_std": r, "col_gain_std": c,
//                  "crosstalk": k, "dac": "layer"|"fixed"}
//                                   every key optional (the defaults when absent), no other
//                                   keys; the last four are written only when not the default
//
// Readers throw InputError("<what>: ...") with one line of bounded length (a quoted value
// is cut to about 100 characters), and validate what they return.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "gift/onn/imperfections.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift::io {

nlohmann::json arch_to_json(const Architecture& arch);
// Widths must be integers in [1, 2^20]; then Architecture::validate().
Architecture arch_from_json(const nlohmann::json& j, const std::string& what);

nlohmann::json noise_to_json(const NoiseModel& noise);
// Validates against num_layers (each list must hold num_layers numbers).
NoiseModel noise_from_json(const nlohmann::json& j, size_t num_layers, const std::string& what);

nlohmann::json imperfections_to_json(const Imperfections& imp);
Imperfections imperfections_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace gift::io
