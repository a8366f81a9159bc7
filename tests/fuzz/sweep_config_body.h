// The sweep_config fuzz target's body: the bytes as a sweep config (parse_json, then
// SweepConfig::from_json and validate). A config that parses must survive to_json ->
// from_json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "gift/core/error.h"
#include "gift/experiment/sweep.h"
#include "gift/io/json.h"

namespace gift::fuzz {

// Returns whether from_json and validate accepted the input.
inline bool sweep_config_one_input(const uint8_t* data, size_t size) {
  using experiment::SweepConfig;
  SweepConfig c;
  try {
    const nlohmann::json j =
        io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "config");
    c = SweepConfig::from_json(j, "config");
    c.validate();
  } catch (const InputError&) {
    return false;
  }
  try {
    const SweepConfig d = SweepConfig::from_json(c.to_json(), "config");
    require(d.to_json() == c.to_json(), "a config survives to_json -> from_json");
  } catch (const InputError& e) {
    require(false, std::string("a valid config reads back from to_json: ") + e.what());
  }
  return true;
}

}  // namespace gift::fuzz
