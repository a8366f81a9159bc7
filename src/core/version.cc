#include "gift/core/version.h"
namespace gift {
// GIFT_VERSION is project(gift VERSION ...) in CMakeLists.txt, the one place it is written.
const char* version() { return GIFT_VERSION; }
}  // namespace gift
