#include "gift/core/version.h"

#include <gtest/gtest.h>

#include <string>
TEST(Version, IsSemver) { EXPECT_EQ(std::string(gift::version()).size(), 5u); }
