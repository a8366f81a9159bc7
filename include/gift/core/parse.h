// Parsers of command-line values shared by the CLI and the experiment configs: a number
// list "0.1,0.2,3" and a per-layer list ("0.1" for every layer, or one value per layer), and
// lists of names as prose. The parsers throw InputError naming `option`, what was expected and what
// was found.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace gift {

// Parses "0.1" or "0.1,0.2,3" into numbers, each finite and >= 0.
std::vector<double> parse_number_list(const std::string& text, const std::string& option);

// Parses a per-layer list "0.1" (same for every layer) or "0.1,0.2,0,0,0" (one per
// layer) for `num_layers` layers.
std::vector<double> parse_per_layer(const std::string& text, size_t num_layers,
                                    const std::string& option);

// Names as prose for help texts and messages: "a, b" + last_sep + "c" ("a" alone; "" if none).
std::string join_names(const std::vector<std::string>& names, const std::string& last_sep);

}  // namespace gift
