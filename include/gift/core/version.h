#pragma once
namespace gift {
// "MAJOR.MINOR.PATCH" of this build of gift.
const char* version();
}  // namespace gift
