#include "pg_import/import_values.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/pg_import/pg_import_test_util.h"
#include "tests/support/status_matchers.h"

namespace pageserver::pg_import {
namespace {

using common::StatusCode;
using pageserver::testing::StatusIs;
using test_util::Bytes;
using test_util::ToBytes;

TEST(ImportValuesTest, SlruEncodingsRoundTrip) {
  EXPECT_EQ(EncodeSlruSegmentSize(7),
            (Bytes{std::byte{7}, std::byte{0}, std::byte{0}, std::byte{0}}));
  ASSERT_OK_AND_ASSIGN(const uint32_t n, DecodeSlruSegmentSize(EncodeSlruSegmentSize(32)));
  EXPECT_EQ(n, 32u);
  EXPECT_THAT(DecodeSlruSegmentSize(Bytes(5)), StatusIs(StatusCode::kCorruption));

  const uint32_t segnos[] = {3, 1, 3, 0};
  const Bytes dir = EncodeSlruDir(segnos);
  EXPECT_EQ(dir.size(), 4u + 3 * 4);
  ASSERT_OK_AND_ASSIGN(const std::vector<uint32_t> decoded, DecodeSlruDir(dir));
  EXPECT_EQ(decoded, (std::vector<uint32_t>{0, 1, 3}));
  EXPECT_EQ(EncodeSlruDir({}), Bytes(4));
  Bytes unsorted = dir;
  std::swap(unsorted[4], unsorted[8]);  // 1, 0, 3
  EXPECT_THAT(DecodeSlruDir(unsorted), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(DecodeSlruDir(std::span(dir).first(dir.size() - 1)),
              StatusIs(StatusCode::kCorruption));
}

TEST(ImportValuesTest, AuxFileKeyIsSha1OfThePath) {
  // SHA-1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d (FIPS 180-4 example).
  const layers::Key key = AuxFileKey("abc", 0);
  EXPECT_EQ(key.ToHex(), "06A9993E364706816ABA3E25717850C26C9C");
  EXPECT_NE(AuxFileKey("abc", 1), key);
  EXPECT_NE(AuxFileKey("abc", 1), AuxFileKey("abc", 2));
  EXPECT_NE(AuxFileKey("abd", 0), key);
}

TEST(ImportValuesTest, AuxFilePartRoundTripsAndDocumentedLayout) {
  const AuxFilePart part{"PG_VERSION", 0, 1, 3, ToBytes("15\n")};
  const Bytes encoded = EncodeAuxFilePart(part);
  ASSERT_EQ(encoded.size(), 22u + 10 + 3);
  EXPECT_EQ(encoded[0], std::byte{10});
  EXPECT_EQ(encoded[2], std::byte{'P'});
  EXPECT_EQ(encoded[12 + 4], std::byte{1});   // parts
  EXPECT_EQ(encoded[12 + 8], std::byte{3});   // file size
  EXPECT_EQ(encoded[12 + 16], std::byte{3});  // content length
  ASSERT_OK_AND_ASSIGN(const AuxFilePart decoded, DecodeAuxFilePart(encoded));
  EXPECT_EQ(decoded, part);
}

TEST(ImportValuesTest, AuxFilePartDecodeRejectsInconsistentValues) {
  const Bytes good = EncodeAuxFilePart({"f", 0, 1, 2, ToBytes("ab")});
  EXPECT_THAT(DecodeAuxFilePart(std::span(good).first(good.size() - 1)),
              StatusIs(StatusCode::kCorruption));
  Bytes trailing = good;
  trailing.push_back(std::byte{0});
  EXPECT_THAT(DecodeAuxFilePart(trailing), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(DecodeAuxFilePart(Bytes(1)), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(DecodeAuxFilePart(EncodeAuxFilePart({"f", 1, 1, 2, ToBytes("ab")})),
              StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(DecodeAuxFilePart(EncodeAuxFilePart({"f", 0, 2, 2, ToBytes("ab")})),
              StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(DecodeAuxFilePart(EncodeAuxFilePart({"f", 0, 1, 3, ToBytes("ab")})),
              StatusIs(StatusCode::kCorruption));
  EXPECT_EQ(AuxPartCount(0), 1u);
  EXPECT_EQ(AuxPartCount(kAuxPartBytes), 1u);
  EXPECT_EQ(AuxPartCount(kAuxPartBytes + 1), 2u);
}

}  // namespace
}  // namespace pageserver::pg_import
