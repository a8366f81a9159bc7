#include "gift/io/json.h"

#include "gift/core/error.h"

namespace gift::io {

nlohmann::json parse_json(std::string_view text, const std::string& what, int max_depth,
                          size_t max_bytes) {
  if (text.size() > max_bytes) {
    throw InputError(what + ": JSON text of " + std::to_string(text.size()) +
                     " bytes, more than the limit of " + std::to_string(max_bytes));
  }
  // nlohmann's parser is iterative; the callback sees each value's depth before it is
  // nested further, so a deep document is refused before it is built.
  const nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t event,
                                                   nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        depth >= max_depth) {
      throw InputError(what + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::json::exception& e) {
    std::string msg = e.what();
    for (char& c : msg) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    if (msg.size() > 160) msg = msg.substr(0, 160) + "...";
    throw InputError(what + ": not valid JSON (" + msg + ")");
  }
}

std::string json_excerpt(const nlohmann::json& v, size_t max_chars) {
  // dump() escapes control characters, so the text is one line.
  const auto dump = [](const nlohmann::json& x) {
    return x.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  const std::string text =
      v.is_string() ? dump(nlohmann::json(v.get_ref<const std::string&>().substr(0, max_chars + 1)))
                    : dump(v);
  if (text.size() <= max_chars) return text;
  return text.substr(0, max_chars) + "...";
}

}  // namespace gift::io
