// The one way gift parses JSON from outside (configs, result rows, device replies,
// checkpoint metadata): bounded in depth and size, so no input can drive recursion
// deep enough to overflow the stack (serialising or walking a parsed value recurses).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace gift::io {

constexpr int kMaxJsonDepth = 64;                    // nesting levels of arrays and objects
constexpr size_t kMaxJsonBytes = size_t{256} << 20;  // 256 MiB of text

// Parses `text` as one JSON value. Throws InputError("<what>: ...") on invalid JSON,
// nesting deeper than `max_depth`, or text longer than `max_bytes`; the message is one line.
nlohmann::json parse_json(std::string_view text, const std::string& what,
                          int max_depth = kMaxJsonDepth, size_t max_bytes = kMaxJsonBytes);

// `v` as JSON text for an error message: one line, cut to about `max_chars` characters
// (a long string is cut before it is dumped), invalid UTF-8 replaced.
std::string json_excerpt(const nlohmann::json& v, size_t max_chars = 100);

}  // namespace gift::io
