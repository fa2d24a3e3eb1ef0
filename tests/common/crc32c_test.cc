#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace pageserver::common::crc32c {
namespace {

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

TEST(Crc32cTest, MatchesStandardCheckValue) { EXPECT_EQ(Value(Bytes("123456789")), 0xE3069283u); }

TEST(Crc32cTest, EmptyInputIsZero) { EXPECT_EQ(Value({}), 0u); }

TEST(Crc32cTest, KnownVectorsFromRfc3720) {
  // RFC 3720 B.4: 32 bytes of zeros and 32 bytes of 0xFF.
  std::vector<std::byte> zeros(32, std::byte{0});
  std::vector<std::byte> ones(32, std::byte{0xFF});
  EXPECT_EQ(Value(zeros), 0x8A9136AAu);
  EXPECT_EQ(Value(ones), 0x62A8AB43u);
}

TEST(Crc32cTest, ExtendComposes) {
  std::string_view all = "the quick brown fox jumps over the lazy dog";
  for (size_t split = 0; split <= all.size(); ++split) {
    EXPECT_EQ(Extend(Value(Bytes(all.substr(0, split))), Bytes(all.substr(split))), Value(Bytes(all)))
        << "split " << split;
  }
}

TEST(Crc32cTest, SingleBitFlipChangesValue) {
  std::vector<std::byte> page(8192, std::byte{0x5A});
  const uint32_t base = Value(page);
  for (size_t i = 0; i < page.size(); i += 509) {
    page[i] ^= std::byte{0x01};
    EXPECT_NE(Value(page), base) << "byte " << i;
    page[i] ^= std::byte{0x01};
  }
}

}  // namespace
}  // namespace pageserver::common::crc32c
