#include "common/align.h"

#include <gtest/gtest.h>

#include <random>

namespace pageserver::common {
namespace {

TEST(AlignTest, UpAndDownOnBoundaries) {
  EXPECT_EQ(AlignUp(0, 512), 0u);
  EXPECT_EQ(AlignUp(1, 512), 512u);
  EXPECT_EQ(AlignUp(512, 512), 512u);
  EXPECT_EQ(AlignUp(513, 512), 1024u);
  EXPECT_EQ(AlignDown(511, 512), 0u);
  EXPECT_EQ(AlignDown(1023, 512), 512u);
  EXPECT_EQ(AlignDown(uint64_t{1} << 40, 4096), uint64_t{1} << 40);
}

TEST(AlignTest, RandomValuesSatisfyTheDefinitions) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 10000; ++i) {
    const uint64_t alignment = uint64_t{1} << (rng() % 16);
    const uint64_t v = rng() >> 8;
    const uint64_t up = AlignUp(v, alignment);
    const uint64_t down = AlignDown(v, alignment);
    ASSERT_TRUE(IsAligned(up, alignment));
    ASSERT_TRUE(IsAligned(down, alignment));
    ASSERT_LE(down, v);
    ASSERT_GE(up, v);
    ASSERT_LT(up - down, 2 * alignment);
    ASSERT_EQ(IsAligned(v, alignment), up == v);
  }
}

TEST(AlignTest, PowerOfTwo) {
  EXPECT_TRUE(IsPowerOfTwo(1));
  EXPECT_TRUE(IsPowerOfTwo(4096));
  EXPECT_FALSE(IsPowerOfTwo(0));
  EXPECT_FALSE(IsPowerOfTwo(4095));
  EXPECT_FALSE(IsPowerOfTwo(uint64_t{3} * 512));
}

TEST(AlignTest, PointerAlignment) {
  alignas(512) static char block[1024];
  EXPECT_TRUE(IsAlignedPtr(block, 512));
  EXPECT_FALSE(IsAlignedPtr(block + 1, 512));
  EXPECT_TRUE(IsAlignedPtr(block + 256, 256));
}

}  // namespace
}  // namespace pageserver::common
