#include "gift/core/hash.h"

namespace gift {

uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= bytes[i];
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t fnv1a(std::string_view s) { return fnv1a(s.data(), s.size()); }

}  // namespace gift
