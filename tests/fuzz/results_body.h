// The results fuzz target's body: the bytes as one line of results.jsonl (parse_json, then
// row_from_json; a row that parses must survive row_to_json -> row_from_json), and as a
// whole results.jsonl read by read_results (through an in-memory file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "gift/core/error.h"
#include "gift/experiment/report.h"
#include "gift/io/json.h"

namespace gift::fuzz {

// Returns whether row_from_json accepted the input or read_results found a row in it.
inline bool results_one_input(const uint8_t* data, size_t size) {
  using namespace experiment;
  bool accepted = false;
  try {
    const nlohmann::json j =
        io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "row");
    const StudyRow row = row_from_json(j);
    StudyRow back;
    try {
      back = row_from_json(row_to_json(row));
    } catch (const InputError& e) {
      require(false, std::string("a parsed row reads back from row_to_json: ") + e.what());
    }
    require(row_to_json(back) == row_to_json(row), "a row survives row_to_json -> row_from_json");
    accepted = true;
  } catch (const InputError&) {
  }
  try {
    const MemFile file(data, size);
    accepted = !read_results(file.path()).empty() || accepted;
  } catch (const InputError&) {
  }
  return accepted;
}

}  // namespace gift::fuzz
