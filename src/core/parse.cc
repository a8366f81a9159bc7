#include "gift/core/parse.h"

#include <cctype>
#include <cmath>
#include <sstream>

#include "gift/core/error.h"

namespace gift {

std::vector<double> parse_number_list(const std::string& text, const std::string& option) {
  std::vector<double> values;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
    if (item.empty() || used != item.size()) {
      throw InputError(option + ": expected a number or a comma-separated list, found '" + text +
                       "'");
    }
    if (!std::isfinite(v) || v < 0) {
      throw InputError(option + ": expected values >= 0, found " + item);
    }
    values.push_back(v);
  }
  if (values.empty()) throw InputError(option + ": expected at least one number, found ''");
  return values;
}

std::vector<double> parse_per_layer(const std::string& text, size_t num_layers,
                                    const std::string& option) {
  std::vector<double> values = parse_number_list(text, option);
  if (values.size() == 1) values.assign(num_layers, values[0]);
  if (values.size() != num_layers) {
    throw InputError(option + ": expected " +
                     (num_layers == 1 ? std::string("1 value")
                                      : "1 or " + std::to_string(num_layers) + " values") +
                     " (one per layer), found " + std::to_string(values.size()));
  }
  return values;
}

std::string join_names(const std::vector<std::string>& names, const std::string& last_sep) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) s += i + 1 == names.size() ? last_sep : ", ";
    s += names[i];
  }
  return s;
}

}  // namespace gift
