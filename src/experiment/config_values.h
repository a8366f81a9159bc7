// Strict readers of the values of study configs (sweep and frontier config.json, the study
// files of `gift sweep --study`); internal to the library, not installed. Every value is checked
// for its type and range here, so a mistyped config is an InputError naming the key, what was
// expected and what was found: never a nlohmann exception, a float truncated to an integer, or a
// negative number wrapped to a huge unsigned one.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <type_traits>

#include "gift/onn/noise.h"

namespace gift::experiment::detail {

using nlohmann::json;

// Every value is checked for its type and range here, so a mistyped config is an InputError
// naming the key, what was expected and what was found: never a nlohmann exception, a float
// truncated to an integer, or a negative number wrapped to a huge unsigned one.

// `v` as JSON text, cut to 60 characters.
std::string shown(const json& v);
// Throws InputError("<what>: key '<key>' must be <expected>, found <v>").
[[noreturn]] void bad_value(const std::string& what, const std::string& key,
                            const std::string& expected, const json& v);
// A non-negative integer: a JSON integer, or an integral float up to 2^53 (2.0, 1e3).
std::optional<uint64_t> count_of(const json& v);
// `v` as an integer in [lo, hi], else bad_value.
uint64_t integer_value(const json& v, const std::string& key, uint64_t lo, uint64_t hi,
                       const std::string& what);
// j[key] if present (else `fallback`): an integer in [lo, hi].
template <class T>
T get_integer(const json& j, const char* key, T fallback, uint64_t lo, uint64_t hi,
              const std::string& what) {
  static_assert(std::is_integral_v<T>);
  if (!j.contains(key)) return fallback;
  return static_cast<T>(integer_value(j.at(key), key, lo, hi, what));
}

// j[key] if present (else `fallback`): a finite number in [lo, hi] (`expected` says so in words).
double get_number(const json& j, const char* key, double fallback, double lo, double hi,
                  const std::string& expected, const std::string& what);
// j[key] if present (else `fallback`): a string.
std::string get_string(const json& j, const char* key, const std::string& fallback,
                       const std::string& expected, const std::string& what);
// j[key]: a non-empty list (checked element by element by the caller).
const json& get_list(const json& j, const char* key, const std::string& expected,
                     const std::string& what);
// Throws InputError unless `j` is an object whose keys are all in `known`.
void reject_unknown(const json& j, const std::set<std::string>& known, const std::string& what);
// A noise pattern {site: std or one std per layer, "output_clip": c} for `layers` layers.
NoiseModel pattern_from_json(const json& j, size_t layers, const std::string& what);

// A noise model in the JSON form of io::noise_to_json, its number of layers taken from its lists
// (all of one length; none: no layers, an ideal device); the frontier's device and assumed noise.
NoiseModel noise_of_json(const json& j, const std::string& what);

// x * y and x + y, or max() if that overflows.
uint64_t saturating_mul(uint64_t x, uint64_t y);
uint64_t saturating_add(uint64_t x, uint64_t y);

// Throws InputError("<owner>: <name> must be in [lo, hi], found <value>") outside [lo, hi].
void check_range(const std::string& owner, const std::string& name, int64_t value, int64_t lo,
                 int64_t hi);

}  // namespace gift::experiment::detail
