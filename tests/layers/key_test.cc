// Tests of the basic value types: Lsn, Key (encoding, order, carries and the
// Postgres mappings) and the 128-bit ids. Randomized tests print their seed;
// replay with PS_TEST_SEED=<seed>.

#include "layers/key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "layers/ids.h"
#include "layers/lsn.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"

namespace pageserver::layers {
namespace {

using common::StatusCode;
using ::pageserver::testing::StatusIs;

#define PS_SEEDED_RNG(rng)                                                            \
  const uint64_t rng##_seed = ::pageserver::testing::TestSeed();                      \
  SCOPED_TRACE("seed=" + std::to_string(rng##_seed) + " (replay with PS_TEST_SEED)"); \
  std::mt19937_64 rng(rng##_seed)

// ---------------------------------------------------------------- Lsn

TEST(LsnTest, ToStringIsPostgresUpperHex) {
  EXPECT_EQ(Lsn{0}.ToString(), "0/0");
  EXPECT_EQ(Lsn{0x16B374D848}.ToString(), "16/B374D848");
  EXPECT_EQ(Lsn{0x100000000}.ToString(), "1/0");
  EXPECT_EQ(Lsn{0xABCDEF}.ToString(), "0/ABCDEF");
  EXPECT_EQ(Lsn::Max().ToString(), "FFFFFFFF/FFFFFFFF");
}

TEST(LsnTest, FileHexIsSixteenUpperDigits) {
  EXPECT_EQ(Lsn{0x16B374D848}.ToFileHex(), "00000016B374D848");
  EXPECT_EQ(Lsn{0}.ToFileHex(), "0000000000000000");
  EXPECT_EQ(Lsn::Max().ToFileHex(), "FFFFFFFFFFFFFFFF");
}

TEST(LsnTest, InvalidAndMax) {
  EXPECT_FALSE(Lsn::Invalid().valid());
  EXPECT_TRUE(Lsn{1}.valid());
  EXPECT_LT(Lsn{5}, Lsn::Max());
  EXPECT_EQ(Lsn{}, Lsn::Invalid());
}

TEST(LsnTest, ParseAcceptsPostgresForms) {
  ASSERT_OK_AND_ASSIGN(Lsn a, Lsn::Parse("16/B374D848"));
  EXPECT_EQ(a.value, 0x16B374D848u);
  ASSERT_OK_AND_ASSIGN(Lsn b, Lsn::Parse("16/b374d848"));
  EXPECT_EQ(b, a);
  ASSERT_OK_AND_ASSIGN(Lsn c, Lsn::Parse("00000016/0B374D84"));
  EXPECT_EQ(c.value, 0x160B374D84u);
  ASSERT_OK_AND_ASSIGN(Lsn zero, Lsn::Parse("0/0"));
  EXPECT_EQ(zero, Lsn::Invalid());
  ASSERT_OK_AND_ASSIGN(Lsn max, Lsn::Parse("FFFFFFFF/FFFFFFFF"));
  EXPECT_EQ(max, Lsn::Max());
}

TEST(LsnTest, ParseRejectsEverythingElse) {
  for (const char* text :
       {"",      "/",     "0/",   "/0",   "0",    "16B374D848", "123456789/0", "0/123456789",
        "0x1/2", "1/0x2", " 1/2", "1/2 ", "1 /2", "1/ 2",       "1//2",        "1/2/3",
        "g/1",   "1/g",   "+1/2", "1/-2", "-1/2", "1/2\n",      "1:2"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(Lsn::Parse(text), StatusIs(StatusCode::kInvalidArgument));
  }
  // The message names the offending text.
  EXPECT_THAT(Lsn::Parse("zz/1"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("zz/1")));
}

TEST(LsnTest, ParseFileHexIsExact) {
  ASSERT_OK_AND_ASSIGN(Lsn a, Lsn::ParseFileHex("00000016B374D848"));
  EXPECT_EQ(a.value, 0x16B374D848u);
  ASSERT_OK_AND_ASSIGN(Lsn b, Lsn::ParseFileHex("00000016b374d848"));
  EXPECT_EQ(b, a);
  for (const char* text :
       {"", "16B374D848", "000000016B374D848", "0000016B374D848", "00000016B374D84G",
        " 0000016B374D848", "0000016B374D848 ", "0x000016B374D848", "00000016/B374D84"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(Lsn::ParseFileHex(text), StatusIs(StatusCode::kInvalidArgument));
  }
}

TEST(LsnTest, RandomTextRoundTrips) {
  PS_SEEDED_RNG(rng);
  for (int i = 0; i < 10000; ++i) {
    // Mix full-width values with small ones so short forms ("0/1F") show up.
    const uint64_t v = (i % 2 == 0) ? rng() : rng() >> (rng() % 64);
    const Lsn lsn{v};
    ASSERT_OK_AND_ASSIGN(Lsn parsed, Lsn::Parse(lsn.ToString()));
    ASSERT_EQ(parsed, lsn) << lsn.ToString();
    ASSERT_OK_AND_ASSIGN(Lsn from_file, Lsn::ParseFileHex(lsn.ToFileHex()));
    ASSERT_EQ(from_file, lsn) << lsn.ToFileHex();
    char expected[32];
    std::snprintf(expected, sizeof(expected), "%X/%X", static_cast<unsigned>(v >> 32),
                  static_cast<unsigned>(v));
    ASSERT_EQ(lsn.ToString(), expected);
  }
}

TEST(LsnTest, RangeIsHalfOpen) {
  const LsnRange r{Lsn{0x10}, Lsn{0x20}};
  EXPECT_FALSE(r.empty());
  EXPECT_TRUE(r.Contains(Lsn{0x10}));
  EXPECT_TRUE(r.Contains(Lsn{0x1F}));
  EXPECT_FALSE(r.Contains(Lsn{0x20}));
  EXPECT_FALSE(r.Contains(Lsn{0xF}));
  EXPECT_TRUE(r.Overlaps({Lsn{0x1F}, Lsn{0x30}}));
  EXPECT_FALSE(r.Overlaps({Lsn{0x20}, Lsn{0x30}}));
  EXPECT_FALSE(r.Overlaps({Lsn{0x0}, Lsn{0x10}}));
  EXPECT_FALSE(r.Overlaps({Lsn{0x15}, Lsn{0x15}}));  // empty ranges overlap nothing
  EXPECT_TRUE((LsnRange{Lsn{5}, Lsn{5}}.empty()));
  EXPECT_TRUE((LsnRange{Lsn{6}, Lsn{5}}.empty()));
  EXPECT_EQ(r.ToString(), "[0/10, 0/20)");
}

// ---------------------------------------------------------------- Key

std::string HexOf(const EncodedKey& bytes) {
  std::string out;
  char buf[3];
  for (std::byte b : bytes) {
    std::snprintf(buf, sizeof(buf), "%02X", std::to_integer<unsigned>(b));
    out += buf;
  }
  return out;
}

// Field values biased towards the edges, where carries and sign bugs live.
Key RandomKey(std::mt19937_64& rng) {
  auto u32 = [&rng]() -> uint32_t {
    switch (rng() % 4) {
      case 0:
        return static_cast<uint32_t>(rng() % 3);
      case 1:
        return 0xFFFFFFFFu - static_cast<uint32_t>(rng() % 3);
      case 2:
        return 0x80000000u + static_cast<uint32_t>(rng() % 3) - 1;
      default:
        return static_cast<uint32_t>(rng());
    }
  };
  auto u8 = [&rng]() -> uint8_t {
    const uint8_t edges[] = {0, 1, 0x7F, 0x80, 0xFE, 0xFF};
    return rng() % 2 == 0 ? edges[rng() % 6] : static_cast<uint8_t>(rng());
  };
  return Key{u8(), u32(), u32(), u32(), u8(), u32()};
}

// The encoded key read as a 144-bit big-endian integer, plus `n`, saturating
// at all ones: the model of Key::Add and Key::Next.
EncodedKey AddToBytes(EncodedKey bytes, uint32_t n) {
  uint64_t carry = n;
  for (size_t i = kKeySize; i-- > 0 && carry != 0;) {
    const uint64_t sum = std::to_integer<uint64_t>(bytes[i]) + (carry & 0xFF);
    bytes[i] = static_cast<std::byte>(sum & 0xFF);
    carry = (carry >> 8) + (sum >> 8);
  }
  if (carry != 0) bytes.fill(std::byte{0xFF});
  return bytes;
}

TEST(KeyTest, EncodingIsBigEndianFieldByField) {
  const Key k{0x12, 0x3456789A, 0xBCDEF012, 0x34567890, 0xAB, 0xCDEF0123};
  EXPECT_EQ(HexOf(k.Encode()),
            "12"
            "3456789A"
            "BCDEF012"
            "34567890"
            "AB"
            "CDEF0123");
  EXPECT_EQ(k.ToHex(), "123456789ABCDEF01234567890ABCDEF0123");
  std::array<std::byte, kKeySize> out{};
  k.EncodeTo(out);
  EXPECT_EQ(out, k.Encode());
  EXPECT_EQ(Key::Decode(out), k);
}

TEST(KeyTest, KnownNeonKeys) {
  // rel 1663/5/16384 (pg_default, postgres db, first user relation) block 7.
  const Key k = Key::RelBlock(RelTag{1663, 5, 16384, 0}, 7);
  EXPECT_EQ(k.ToHex(), "000000067F00000005000040000000000007");
  EXPECT_EQ(HexOf(k.Encode()), "000000067F00000005000040000000000007");
  // The key in Neon's layer-file documentation (delta_layer.rs).
  ASSERT_OK_AND_ASSIGN(Key doc, Key::ParseHex("000000067F000032BE0000400000000020B6"));
  EXPECT_EQ(doc, Key::RelBlock(RelTag{1663, 12990, 16384, 0}, 0x20B6));
  EXPECT_EQ(doc.Describe(), "rel 1663/12990/16384 blk 8374");
  EXPECT_EQ(Key::Min().ToHex(), "000000000000000000000000000000000000");
  EXPECT_EQ(Key::Max().ToHex(), "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
}

TEST(KeyTest, RandomEncodeDecodeAndHexRoundTrip) {
  PS_SEEDED_RNG(rng);
  for (int i = 0; i < 10000; ++i) {
    const Key k = RandomKey(rng);
    const EncodedKey bytes = k.Encode();
    ASSERT_EQ(Key::Decode(bytes), k);
    const std::string hex = k.ToHex();
    ASSERT_EQ(hex, HexOf(bytes));
    ASSERT_OK_AND_ASSIGN(Key parsed, Key::ParseHex(hex));
    ASSERT_EQ(parsed, k);
    std::string lower = hex;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return static_cast<char>(std::tolower(c)); });
    ASSERT_OK_AND_ASSIGN(Key parsed_lower, Key::ParseHex(lower));
    ASSERT_EQ(parsed_lower, k);
  }
}

TEST(KeyTest, OrderEqualsMemcmpOfEncoding) {
  PS_SEEDED_RNG(rng);
  std::vector<Key> keys;
  keys.reserve(600);
  for (int i = 0; i < 400; ++i) keys.push_back(RandomKey(rng));
  // Near-equal pairs: same key with one field nudged.
  for (int i = 0; i < 200; ++i) {
    Key k = keys[rng() % keys.size()];
    k.field6 ^= 1u << (rng() % 32);
    keys.push_back(k);
  }
  for (const Key& a : keys) {
    const EncodedKey ea = a.Encode();
    for (const Key& b : keys) {
      const EncodedKey eb = b.Encode();
      const int c = std::memcmp(ea.data(), eb.data(), kKeySize);
      ASSERT_EQ(a < b, c < 0) << a.ToHex() << " vs " << b.ToHex();
      ASSERT_EQ(a == b, c == 0) << a.ToHex() << " vs " << b.ToHex();
    }
  }
}

TEST(KeyTest, NextIncrementsField6) {
  EXPECT_EQ((Key{0, 1, 2, 3, 4, 5}.Next()), (Key{0, 1, 2, 3, 4, 6}));
  EXPECT_EQ(Key::Min().Next(), (Key{0, 0, 0, 0, 0, 1}));
}

TEST(KeyTest, NextCarriesThroughEveryField) {
  // field6 -> field5
  EXPECT_EQ((Key{0, 1, 2, 3, 4, 0xFFFFFFFF}.Next()), (Key{0, 1, 2, 3, 5, 0}));
  // field5 is a u8: wraps at 0xFF into field4.
  EXPECT_EQ((Key{0, 1, 2, 3, 0xFF, 0xFFFFFFFF}.Next()), (Key{0, 1, 2, 4, 0, 0}));
  // field5 below 0xFF does not carry even when it is >= 0x80.
  EXPECT_EQ((Key{0, 1, 2, 3, 0xFE, 0xFFFFFFFF}.Next()), (Key{0, 1, 2, 3, 0xFF, 0}));
  // field4 -> field3 -> field2
  EXPECT_EQ((Key{0, 1, 2, 0xFFFFFFFF, 0xFF, 0xFFFFFFFF}.Next()), (Key{0, 1, 3, 0, 0, 0}));
  EXPECT_EQ((Key{0, 1, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFFF}.Next()), (Key{0, 2, 0, 0, 0, 0}));
  // field2 -> field1 (u8)
  EXPECT_EQ((Key{0x05, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFFF}.Next()),
            (Key{0x06, 0, 0, 0, 0, 0}));
  // The last key before Max.
  EXPECT_EQ((Key{0xFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFFE}.Next()), Key::Max());
}

TEST(KeyTest, NextAndAddSaturateAtMax) {
  EXPECT_EQ(Key::Max().Next(), Key::Max());
  EXPECT_EQ(Key::Max().Add(1), Key::Max());
  EXPECT_EQ((Key{0xFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFFFFF0}.Add(0x20)),
            Key::Max());
  EXPECT_EQ((Key{0xFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0}.Add(0xFFFFFFFF)), Key::Max());
}

TEST(KeyTest, AddCarries) {
  EXPECT_EQ((Key{0, 1, 2, 3, 4, 10}.Add(0)), (Key{0, 1, 2, 3, 4, 10}));
  EXPECT_EQ((Key{0, 1, 2, 3, 4, 10}.Add(5)), (Key{0, 1, 2, 3, 4, 15}));
  EXPECT_EQ((Key{0, 1, 2, 3, 4, 0xFFFFFFF0}.Add(0x20)), (Key{0, 1, 2, 3, 5, 0x10}));
  EXPECT_EQ((Key{0, 1, 2, 3, 0xFF, 0xFFFFFFFF}.Add(0xFFFFFFFF)), (Key{0, 1, 2, 4, 0, 0xFFFFFFFE}));
}

TEST(KeyTest, RandomNextAndAddMatchTheIntegerModel) {
  PS_SEEDED_RNG(rng);
  for (int i = 0; i < 20000; ++i) {
    const Key k = RandomKey(rng);
    const Key next = k.Next();
    ASSERT_EQ(next.Encode(), AddToBytes(k.Encode(), 1)) << k.ToHex();
    if (k != Key::Max()) {
      ASSERT_LT(k, next);
    }
    const uint32_t n =
        (i % 2 == 0) ? static_cast<uint32_t>(rng() % 16) : static_cast<uint32_t>(rng());
    ASSERT_EQ(k.Add(n).Encode(), AddToBytes(k.Encode(), n)) << k.ToHex() << " + " << n;
  }
}

TEST(KeyTest, AddEqualsRepeatedNext) {
  Key k{0, 7, 7, 7, 0xFF, 0xFFFFFFFA};
  for (uint32_t n = 0; n < 20; ++n) {
    Key stepped = k;
    for (uint32_t i = 0; i < n; ++i) stepped = stepped.Next();
    EXPECT_EQ(k.Add(n), stepped) << n;
  }
}

TEST(KeyTest, ParseHexRejectsBadText) {
  const std::string good = "000000067F00000005000040000000000007";
  for (const std::string& text :
       {std::string(), good.substr(1), good + "0", good.substr(0, 35) + "G", " " + good.substr(1),
        good.substr(1) + " ", "0x" + good.substr(2), "-" + good.substr(1),
        good.substr(0, 17) + "/" + good.substr(18), std::string(36, 'Z')}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(Key::ParseHex(text), StatusIs(StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(Key::ParseHex("xyz"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("xyz")));
}

TEST(KeyTest, PostgresMappingsMatchNeon) {
  const RelTag rel{1663, 5, 16384, 0};
  const RelTag fsm{1663, 5, 16384, 1};
  EXPECT_EQ(Key::RelBlock(rel, 0).ToHex(), "000000067F00000005000040000000000000");
  EXPECT_EQ(Key::RelBlock(fsm, 3).ToHex(),
            "00"
            "0000067F"
            "00000005"
            "00004000"
            "01"
            "00000003");
  EXPECT_EQ(Key::RelSize(rel).ToHex(),
            "00"
            "0000067F"
            "00000005"
            "00004000"
            "00"
            "FFFFFFFF");
  EXPECT_EQ(Key::RelDir(1663, 5).ToHex(),
            "00"
            "0000067F"
            "00000005"
            "00000000"
            "00"
            "00000001");
  EXPECT_EQ(Key::DbDir().ToHex(),
            "00"
            "00000000"
            "00000000"
            "00000000"
            "00"
            "00000000");
  EXPECT_EQ(Key::SlruBlock(SlruKind::kClog, 3, 5).ToHex(),
            "01"
            "00000000"
            "00000001"
            "00000003"
            "00"
            "00000005");
  EXPECT_EQ(Key::SlruBlock(SlruKind::kMultiXactMembers, 0, 0).ToHex(),
            "01"
            "00000001"
            "00000001"
            "00000000"
            "00"
            "00000000");
  EXPECT_EQ(Key::SlruSegmentSize(SlruKind::kMultiXactOffsets, 0x1234).ToHex(),
            "01"
            "00000002"
            "00000001"
            "00001234"
            "00"
            "FFFFFFFF");
  EXPECT_EQ(Key::SlruDir(SlruKind::kMultiXactOffsets).ToHex(),
            "01"
            "00000002"
            "00000000"
            "00000000"
            "00"
            "00000000");
  EXPECT_EQ(Key::TwoPhaseDir().ToHex(),
            "02"
            "00000000"
            "00000000"
            "00000000"
            "00"
            "00000000");
  EXPECT_EQ(Key::TwoPhaseFile(0xDEADBEEF).ToHex(),
            "02"
            "00000000"
            "00000000"
            "00000000"
            "00"
            "DEADBEEF");
  EXPECT_EQ(Key::ControlFile().ToHex(),
            "03"
            "00000000"
            "00000000"
            "00000000"
            "00"
            "00000000");
  EXPECT_EQ(Key::Checkpoint().ToHex(),
            "03"
            "00000000"
            "00000000"
            "00000000"
            "00"
            "00000001");
}

TEST(KeyTest, AuxFileKeyTakesSeventeenHashBytes) {
  std::array<std::byte, 17> hash;
  for (size_t i = 0; i < hash.size(); ++i) hash[i] = static_cast<std::byte>(0xA0 + i);
  const Key k = Key::AuxFile(hash);
  EXPECT_EQ(k.ToHex(), "06A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0");
  EXPECT_EQ(k.field1, 0x06);
  EXPECT_EQ(k.field2, 0xA0A1A2A3u);
  EXPECT_EQ(k.field5, 0xACu);
  EXPECT_EQ(k.field6, 0xADAEAFB0u);
}

TEST(KeyTest, MappingsSortInNeonKeyspaceOrder) {
  const RelTag rel{1663, 5, 16384, 0};
  // dbdir < reldir < rel blocks < rel size < slru < twophase < control < checkpoint.
  const std::vector<Key> ordered = {Key::DbDir(),
                                    Key::RelDir(1663, 5),
                                    Key::RelBlock(rel, 0),
                                    Key::RelBlock(rel, 1),
                                    Key::RelSize(rel),
                                    Key::SlruDir(SlruKind::kClog),
                                    Key::SlruBlock(SlruKind::kClog, 0, 0),
                                    Key::SlruSegmentSize(SlruKind::kClog, 0),
                                    Key::TwoPhaseDir(),
                                    Key::TwoPhaseFile(1),
                                    Key::ControlFile(),
                                    Key::Checkpoint()};
  EXPECT_TRUE(std::is_sorted(ordered.begin(), ordered.end()));
  EXPECT_EQ(std::adjacent_find(ordered.begin(), ordered.end()), ordered.end());
}

TEST(KeyTest, Predicates) {
  const RelTag rel{1663, 5, 16384, 2};
  const Key blk = Key::RelBlock(rel, 9);
  EXPECT_TRUE(blk.IsRelBlock());
  EXPECT_FALSE(blk.IsRelSize());
  EXPECT_EQ(blk.rel(), rel);
  EXPECT_EQ(blk.block(), 9u);
  const Key size = Key::RelSize(rel);
  EXPECT_TRUE(size.IsRelSize());
  EXPECT_FALSE(size.IsRelBlock());
  EXPECT_EQ(size.rel(), rel);
  EXPECT_FALSE(Key::RelDir(1663, 5).IsRelBlock());
  EXPECT_FALSE(Key::DbDir().IsRelBlock());
  EXPECT_TRUE(Key::SlruBlock(SlruKind::kClog, 1, 2).IsSlruBlock());
  EXPECT_FALSE(Key::SlruSegmentSize(SlruKind::kClog, 1).IsSlruBlock());
  EXPECT_FALSE(Key::SlruDir(SlruKind::kClog).IsSlruBlock());
  EXPECT_FALSE(Key::Checkpoint().IsSlruBlock());
}

TEST(KeyTest, RelTagToString) {
  EXPECT_EQ((RelTag{1663, 5, 16384, 0}.ToString()), "1663/5/16384");
  EXPECT_EQ((RelTag{1663, 5, 16384, 1}.ToString()), "1663/5/16384_fsm");
  EXPECT_EQ((RelTag{1663, 5, 16384, 2}.ToString()), "1663/5/16384_vm");
  EXPECT_EQ((RelTag{1663, 5, 16384, 3}.ToString()), "1663/5/16384_init");
  EXPECT_EQ((RelTag{1663, 5, 16384, 9}.ToString()), "1663/5/16384_fork9");
}

TEST(KeyTest, Describe) {
  const RelTag rel{1663, 5, 16384, 0};
  EXPECT_EQ(Key::RelBlock(rel, 7).Describe(), "rel 1663/5/16384 blk 7");
  EXPECT_EQ(Key::RelBlock(RelTag{1663, 5, 16384, 1}, 0).Describe(), "rel 1663/5/16384_fsm blk 0");
  EXPECT_EQ(Key::RelSize(rel).Describe(), "relsize 1663/5/16384");
  EXPECT_EQ(Key::RelDir(1663, 5).Describe(), "reldir 1663/5");
  EXPECT_EQ((Key{0, 1663, 5, 0, 0, 0}.Describe()), "relmap 1663/5");
  EXPECT_EQ(Key::DbDir().Describe(), "dbdir");
  EXPECT_EQ(Key::SlruBlock(SlruKind::kClog, 0, 3).Describe(), "slru clog seg 0 blk 3");
  EXPECT_EQ(Key::SlruSegmentSize(SlruKind::kMultiXactMembers, 2).Describe(),
            "slru multixact_members seg 2 size");
  EXPECT_EQ(Key::SlruDir(SlruKind::kMultiXactOffsets).Describe(), "slru multixact_offsets dir");
  EXPECT_EQ(Key::TwoPhaseDir().Describe(), "twophase dir");
  EXPECT_EQ(Key::TwoPhaseFile(42).Describe(), "twophase xid 42");
  EXPECT_EQ(Key::ControlFile().Describe(), "controlfile");
  EXPECT_EQ(Key::Checkpoint().Describe(), "checkpoint");
  std::array<std::byte, 17> hash{};
  hash[16] = std::byte{1};
  EXPECT_EQ(Key::AuxFile(hash).Describe(), "aux 060000000000000000000000000000000001");
  // Anything unmapped prints as hex.
  EXPECT_EQ(Key::Max().Describe(), Key::Max().ToHex());
  EXPECT_EQ((Key{0x03, 0, 0, 0, 0, 7}.Describe()), "030000000000000000000000000000000007");
}

// ---------------------------------------------------------------- ids

TEST(IdTest, HexIsLowerCaseAndRoundTrips) {
  ASSERT_OK_AND_ASSIGN(TenantId id, TenantId::ParseHex("ad50847381e248feaac9876cc71ae418"));
  EXPECT_EQ(id.ToHex(), "ad50847381e248feaac9876cc71ae418");
  EXPECT_EQ(id.bytes[0], std::byte{0xAD});
  EXPECT_EQ(id.bytes[15], std::byte{0x18});
  ASSERT_OK_AND_ASSIGN(TenantId upper, TenantId::ParseHex("AD50847381E248FEAAC9876CC71AE418"));
  EXPECT_EQ(upper, id);
  EXPECT_EQ(upper.ToHex(), "ad50847381e248feaac9876cc71ae418");
  EXPECT_FALSE(id.IsZero());
  EXPECT_TRUE(TimelineId{}.IsZero());
  EXPECT_EQ(TimelineId{}.ToHex(), std::string(32, '0'));
}

TEST(IdTest, ParseRejectsBadText) {
  const std::string good = "ad50847381e248feaac9876cc71ae418";
  for (const std::string& text :
       {std::string(), good.substr(1), good + "0", good.substr(0, 31) + "g", " " + good.substr(1),
        std::string("ad508473-81e2-48fe-aac9-876cc71ae418"), "0x" + good.substr(2)}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(TimelineId::ParseHex(text), StatusIs(StatusCode::kInvalidArgument));
  }
}

TEST(IdTest, OrderIsByteOrder) {
  ASSERT_OK_AND_ASSIGN(TenantId a, TenantId::ParseHex("00ffffffffffffffffffffffffffffff"));
  ASSERT_OK_AND_ASSIGN(TenantId b, TenantId::ParseHex("0100000000000000000000000000000f"));
  EXPECT_LT(a, b);
}

TEST(IdTest, GenerateGivesDistinctRandomIds) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const TimelineId id = TimelineId::Generate();
    EXPECT_FALSE(id.IsZero());
    ASSERT_OK_AND_ASSIGN(TimelineId parsed, TimelineId::ParseHex(id.ToHex()));
    EXPECT_EQ(parsed, id);
    seen.insert(id.ToHex());
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace pageserver::layers
