#include "gift/core/version.h"
namespace gift {
const char* version() { return "0.1.0"; }
}  // namespace gift
