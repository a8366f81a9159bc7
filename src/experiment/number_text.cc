#include "gift/experiment/number_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gift::experiment {

std::string number_text(double x) {
  char buf[32];
  if (std::abs(x) < 1e15 &&
      std::floor(x) == x) {  // integers without an exponent: 65600, not 6.56e+04
    std::snprintf(buf, sizeof buf, "%.0f", x);
    return std::strcmp(buf, "-0") == 0 ? "0" : buf;
  }
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

std::string fixed_text(double x, int decimals, bool sign) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  if (std::strtod(buf, nullptr) == 0) {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, 0.0);
  } else if (sign) {
    std::snprintf(buf, sizeof buf, "%+.*f", decimals, x);
  }
  return buf;
}

std::string file_safe(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

std::string level_label(double x) { return file_safe(number_text(x)); }

}  // namespace gift::experiment
