// Tests of the wire codecs: Neon's pagestream v2/v3 requests and responses
// (server/pagestream.h) and the ingest stream (server/ingest_stream.h).
// Golden vectors are written by hand from the byte tables in the headers;
// every integer is big-endian. Randomized tests print their seed; replay with
// PS_TEST_SEED=<seed>.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "server/ingest_stream.h"
#include "server/pagestream.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"

namespace pageserver::server {
namespace {

using common::StatusCode;
using layers::Key;
using layers::Lsn;
using layers::RelTag;
using ::pageserver::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using Bytes = std::vector<std::byte>;

constexpr PagestreamVersion kV2 = PagestreamVersion::kV2;
constexpr PagestreamVersion kV3 = PagestreamVersion::kV3;

// "02 0000000A ..." -> bytes; spaces are ignored.
Bytes Hex(std::string_view text) {
  Bytes out;
  std::string digits;
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  EXPECT_EQ(digits.size() % 2, 0u) << text;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(std::byte(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

Bytes Concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes Page(uint8_t seed) {
  Bytes page(8192);
  for (size_t i = 0; i < page.size(); ++i) page[i] = std::byte(uint8_t(i * 7 + seed));
  return page;
}

Bytes Prefix(const Bytes& bytes, size_t n) { return Bytes(bytes.begin(), bytes.begin() + n); }

const RelTag kRel{1663, 5, 16384, 2};
// 1663 = 0x67F, 16384 = 0x4000.
constexpr std::string_view kRelHex = "0000067F 00000005 00004000 02";

RequestHeader Hdr(uint64_t reqid) {
  return RequestHeader{reqid, Lsn{0x0000001600000010}, Lsn{0x0000001500000020}};
}
constexpr std::string_view kV2HdrHex = "0000001600000010 0000001500000020";
constexpr std::string_view kV3HdrHex = "00000000DEADBEEF 0000001600000010 0000001500000020";
constexpr uint64_t kReqId = 0xDEADBEEF;

std::string S(std::string_view a, std::string_view b = "", std::string_view c = "",
              std::string_view d = "") {
  return std::string(a) + " " + std::string(b) + " " + std::string(c) + " " + std::string(d);
}

// ------------------------------------------------------------ request golden

struct RequestCase {
  std::string name;
  PagestreamRequest request;
  std::string body_hex;  // after the header
  uint8_t tag;
};

std::vector<RequestCase> RequestCases(uint64_t reqid) {
  const RequestHeader h = Hdr(reqid);
  return {
      {"exists", ExistsRequest{h, kRel}, std::string(kRelHex), 0},
      {"nblocks", NblocksRequest{h, kRel}, std::string(kRelHex), 1},
      {"get_page", GetPageRequest{h, kRel, 0x20B6}, S(kRelHex, "000020B6"), 2},
      {"db_size", DbSizeRequest{h, 5}, "00000005", 3},
      {"get_slru_segment", GetSlruSegmentRequest{h, 1, 0x0102}, "01 00000102", 4},
  };
}

Bytes RequestGolden(PagestreamVersion v, const RequestCase& c) {
  const char tag_hex[] = {"0123456789"[c.tag / 16], "0123456789ABCDEF"[c.tag % 16], 0};
  return Hex(S(tag_hex, v == kV3 ? kV3HdrHex : kV2HdrHex, c.body_hex));
}

TEST(PagestreamRequestTest, V2EncodingMatchesGoldenBytes) {
  for (const RequestCase& c : RequestCases(0)) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(EncodeRequest(kV2, c.request), RequestGolden(kV2, c));
  }
}

TEST(PagestreamRequestTest, V3EncodingMatchesGoldenBytes) {
  for (const RequestCase& c : RequestCases(kReqId)) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(EncodeRequest(kV3, c.request), RequestGolden(kV3, c));
  }
}

TEST(PagestreamRequestTest, GetPageGoldenIsSpelledOutByteByByte) {
  // v3 GetPage: tag | reqid | request_lsn | not_modified_since | spc db rel fork | blkno
  const Bytes expected = {
      std::byte{0x02},                                                     // tag
      std::byte{0},    std::byte{0},    std::byte{0},    std::byte{0},     // reqid hi
      std::byte{0},    std::byte{0},    std::byte{0},    std::byte{7},     // reqid lo
      std::byte{0},    std::byte{0},    std::byte{0},    std::byte{1},     // request_lsn
      std::byte{0},    std::byte{0},    std::byte{0},    std::byte{0x28},  //
      std::byte{0},    std::byte{0},    std::byte{0},    std::byte{1},     // not_modified
      std::byte{0},    std::byte{0},    std::byte{0},    std::byte{0x20},  //
      std::byte{0},    std::byte{0},    std::byte{0x06}, std::byte{0x7F},  // spcnode 1663
      std::byte{0},    std::byte{0},    std::byte{0},    std::byte{0x05},  // dbnode 5
      std::byte{0},    std::byte{0},    std::byte{0x40}, std::byte{0x00},  // relnode 16384
      std::byte{0x00},                                                     // forknum main
      std::byte{0x12}, std::byte{0x34}, std::byte{0x56}, std::byte{0x78},  // blkno
  };
  const GetPageRequest r{{7, Lsn{0x100000028}, Lsn{0x100000020}}, {1663, 5, 16384, 0}, 0x12345678};
  EXPECT_EQ(EncodeRequest(kV3, r), expected);
  EXPECT_EQ(expected.size(), 42u);
}

TEST(PagestreamRequestTest, GoldenBytesDecodeToTheRequest) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (const RequestCase& c : RequestCases(v == kV3 ? kReqId : 0)) {
      SCOPED_TRACE(c.name + " v" + std::to_string(int(v)));
      ASSERT_OK_AND_ASSIGN(PagestreamRequest decoded, DecodeRequest(v, RequestGolden(v, c)));
      EXPECT_EQ(decoded, c.request);
      EXPECT_EQ(uint8_t(TagOf(decoded)), c.tag);
      EXPECT_EQ(HeaderOf(decoded), HeaderOf(c.request));
    }
  }
}

TEST(PagestreamRequestTest, V2DropsTheRequestId) {
  const GetPageRequest r{Hdr(99), kRel, 3};
  ASSERT_OK_AND_ASSIGN(PagestreamRequest decoded, DecodeRequest(kV2, EncodeRequest(kV2, r)));
  GetPageRequest expected = r;
  expected.hdr.reqid = 0;
  EXPECT_EQ(decoded, PagestreamRequest(expected));
}

TEST(PagestreamRequestTest, EveryTruncationIsInvalidArgumentNamingTagAndLengths) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (const RequestCase& c : RequestCases(kReqId)) {
      const Bytes full = RequestGolden(v, c);
      for (size_t n = 1; n < full.size(); ++n) {
        SCOPED_TRACE(c.name + " prefix " + std::to_string(n));
        EXPECT_THAT(DecodeRequest(v, Prefix(full, n)),
                    StatusIs(StatusCode::kInvalidArgument,
                             AllOf(HasSubstr("tag " + std::to_string(c.tag)),
                                   HasSubstr("expected " + std::to_string(full.size())),
                                   HasSubstr("got " + std::to_string(n)), HasSubstr("truncated"),
                                   HasSubstr(c.name))));
      }
    }
  }
}

TEST(PagestreamRequestTest, TrailingBytesAreRejected) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (const RequestCase& c : RequestCases(kReqId)) {
      SCOPED_TRACE(c.name);
      const Bytes full = RequestGolden(v, c);
      EXPECT_THAT(DecodeRequest(v, Concat(full, {std::byte{0}})),
                  StatusIs(StatusCode::kInvalidArgument,
                           AllOf(HasSubstr("trailing"),
                                 HasSubstr("got " + std::to_string(full.size() + 1)))));
    }
  }
}

TEST(PagestreamRequestTest, UnknownTagsAndEmptyMessagesAreRejected) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (unsigned tag = 5; tag < 256; ++tag) {
      Bytes message(42, std::byte{0});
      message[0] = std::byte(tag);
      EXPECT_THAT(
          DecodeRequest(v, message),
          StatusIs(StatusCode::kInvalidArgument,
                   AllOf(HasSubstr("unknown tag " + std::to_string(tag)), HasSubstr("42 bytes"))));
    }
    EXPECT_THAT(DecodeRequest(v, {}), StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  }
}

TEST(PagestreamRequestTest, V3BytesAreNotAcceptedAsV2) {
  // A v3 message is 8 bytes longer than its v2 form: a version mix-up is an
  // error, not a misread request.
  for (const RequestCase& c : RequestCases(kReqId)) {
    EXPECT_THAT(DecodeRequest(kV2, RequestGolden(kV3, c)),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("trailing")));
    EXPECT_THAT(DecodeRequest(kV3, RequestGolden(kV2, c)),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("truncated")));
  }
}

TEST(PagestreamRequestTest, UnknownVersionIsRejected) {
  EXPECT_THAT(DecodeRequest(PagestreamVersion(1), RequestGolden(kV2, RequestCases(0)[0])),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("version 1")));
}

TEST(PagestreamRequestTest, TagNamesAreTheMetricLabels) {
  EXPECT_EQ(PagestreamTagName(PagestreamTag::kExists), "exists");
  EXPECT_EQ(PagestreamTagName(PagestreamTag::kNblocks), "nblocks");
  EXPECT_EQ(PagestreamTagName(PagestreamTag::kGetPage), "get_page");
  EXPECT_EQ(PagestreamTagName(PagestreamTag::kDbSize), "db_size");
  EXPECT_EQ(PagestreamTagName(PagestreamTag::kGetSlruSegment), "get_slru_segment");
}

PagestreamRequest RandomRequest(std::mt19937_64& rng) {
  auto u32 = [&] { return uint32_t(rng()); };
  const RequestHeader h{rng(), Lsn{rng()}, Lsn{rng()}};
  const RelTag rel{u32(), u32(), u32(), uint8_t(rng())};
  switch (rng() % 5) {
    case 0:
      return ExistsRequest{h, rel};
    case 1:
      return NblocksRequest{h, rel};
    case 2:
      return GetPageRequest{h, rel, u32()};
    case 3:
      return DbSizeRequest{h, u32()};
    default:
      return GetSlruSegmentRequest{h, uint8_t(rng()), u32()};
  }
}

TEST(PagestreamRequestTest, RandomRequestsRoundTripInV3) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 2000; ++i) {
    const PagestreamRequest r = RandomRequest(rng);
    const Bytes bytes = EncodeRequest(kV3, r);
    ASSERT_OK_AND_ASSIGN(PagestreamRequest decoded, DecodeRequest(kV3, bytes));
    ASSERT_EQ(decoded, r);
    ASSERT_EQ(EncodeRequest(kV3, decoded), bytes);
  }
}

// ----------------------------------------------------------- response golden

struct ResponseCase {
  std::string name;
  Bytes encoded;  // built with Append*Response
  Bytes golden;   // written from the layout
  PagestreamResponse expected;
};

PagestreamResponse Expect(PagestreamVersion v, PagestreamResponseTag tag, const RequestHeader& h) {
  PagestreamResponse r;
  r.tag = tag;
  if (v == kV3) r.hdr = h;
  return r;
}

std::vector<ResponseCase> ResponseCases(PagestreamVersion v) {
  const bool v3 = v == kV3;
  const RequestHeader h = Hdr(v3 ? kReqId : 0);
  const std::string hdr = v3 ? std::string(kV3HdrHex) : "";
  const std::string rel = v3 ? std::string(kRelHex) : "";
  std::vector<ResponseCase> cases;
  {
    ResponseCase c{
        "exists", {}, Hex(S("64", hdr, rel, "01")), Expect(v, PagestreamResponseTag::kExists, h)};
    AppendExistsResponse(v, ExistsRequest{h, kRel}, true, c.encoded);
    if (v3) c.expected.rel = kRel;
    c.expected.exists = true;
    cases.push_back(c);
  }
  {
    ResponseCase c{"nblocks",
                   {},
                   Hex(S("65", hdr, rel, "00010002")),
                   Expect(v, PagestreamResponseTag::kNblocks, h)};
    AppendNblocksResponse(v, NblocksRequest{h, kRel}, 0x10002, c.encoded);
    if (v3) c.expected.rel = kRel;
    c.expected.n_blocks = 0x10002;
    cases.push_back(c);
  }
  {
    const Bytes page = Page(3);
    ResponseCase c{"get_page",
                   {},
                   Concat(Hex(S("66", hdr, rel, v3 ? "000020B6" : "")), page),
                   Expect(v, PagestreamResponseTag::kGetPage, h)};
    AppendGetPageResponse(v, GetPageRequest{h, kRel, 0x20B6}, page, c.encoded);
    if (v3) {
      c.expected.rel = kRel;
      c.expected.blkno = 0x20B6;
    }
    c.expected.data = page;
    cases.push_back(c);
  }
  {
    // -2 as i64 big-endian.
    ResponseCase c{"db_size",
                   {},
                   Hex(S("68", hdr, v3 ? "00000005" : "", "FFFFFFFFFFFFFFFE")),
                   Expect(v, PagestreamResponseTag::kDbSize, h)};
    AppendDbSizeResponse(v, DbSizeRequest{h, 5}, -2, c.encoded);
    if (v3) c.expected.dbnode = 5;
    c.expected.db_size = -2;
    cases.push_back(c);
  }
  {
    const Bytes segment = Concat(Page(1), Page(2));
    ResponseCase c{"get_slru_segment",
                   {},
                   Concat(Hex(S("69", hdr, v3 ? "01 00000102" : "", "00000002")), segment),
                   Expect(v, PagestreamResponseTag::kGetSlruSegment, h)};
    AppendSlruSegmentResponse(v, GetSlruSegmentRequest{h, 1, 0x102}, segment, c.encoded);
    if (v3) {
      c.expected.slru_kind = 1;
      c.expected.slru_segno = 0x102;
    }
    c.expected.n_blocks = 2;
    c.expected.data = segment;
    cases.push_back(c);
  }
  {
    // "no such rel" + NUL.
    ResponseCase c{"error",
                   {},
                   Hex(S("67", hdr, "6E6F2073756368 2072656C 00")),
                   Expect(v, PagestreamResponseTag::kError, h)};
    AppendErrorResponse(v, h, "no such rel", c.encoded);
    c.expected.error = "no such rel";
    cases.push_back(c);
  }
  return cases;
}

void ExpectSameResponse(const PagestreamResponse& a, const PagestreamResponse& b) {
  EXPECT_EQ(a.tag, b.tag);
  EXPECT_EQ(a.hdr, b.hdr);
  EXPECT_EQ(a.rel, b.rel);
  EXPECT_EQ(a.blkno, b.blkno);
  EXPECT_EQ(a.dbnode, b.dbnode);
  EXPECT_EQ(a.slru_kind, b.slru_kind);
  EXPECT_EQ(a.slru_segno, b.slru_segno);
  EXPECT_EQ(a.exists, b.exists);
  EXPECT_EQ(a.n_blocks, b.n_blocks);
  EXPECT_EQ(a.db_size, b.db_size);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.error, b.error);
}

TEST(PagestreamResponseTest, EncodingMatchesGoldenBytesInV2AndV3) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (const ResponseCase& c : ResponseCases(v)) {
      SCOPED_TRACE(c.name + " v" + std::to_string(int(v)));
      EXPECT_EQ(c.encoded, c.golden);
    }
  }
}

TEST(PagestreamResponseTest, GoldenBytesDecodeToTheResponse) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (const ResponseCase& c : ResponseCases(v)) {
      SCOPED_TRACE(c.name + " v" + std::to_string(int(v)));
      ASSERT_OK_AND_ASSIGN(PagestreamResponse r, DecodeResponse(v, c.golden));
      ExpectSameResponse(r, c.expected);
    }
  }
}

TEST(PagestreamResponseTest, V3ExistsGoldenIsSpelledOut) {
  // tag 100 | reqid 1 | request_lsn 0/30 | not_modified_since 0/20 | rel 1/2/3 fork 0 | exists 0
  const Bytes expected =
      Hex("64 0000000000000001 0000000000000030 0000000000000020 00000001 00000002 00000003 00 00");
  Bytes out;
  AppendExistsResponse(kV3, ExistsRequest{{1, Lsn{0x30}, Lsn{0x20}}, {1, 2, 3, 0}}, false, out);
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.size(), 1u + 24 + 13 + 1);
}

TEST(PagestreamResponseTest, AppendAddsToExistingBytes) {
  Bytes out = {std::byte{0xAA}};
  AppendNblocksResponse(kV2, NblocksRequest{Hdr(0), kRel}, 9, out);
  AppendExistsResponse(kV2, ExistsRequest{Hdr(0), kRel}, false, out);
  EXPECT_EQ(out, Hex("AA 65 00000009 64 00"));
}

TEST(PagestreamResponseTest, EveryTruncationIsInvalidArgument) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (const ResponseCase& c : ResponseCases(v)) {
      SCOPED_TRACE(c.name + " v" + std::to_string(int(v)));
      for (size_t n = 1; n < c.golden.size(); ++n) {
        const auto r = DecodeResponse(v, Prefix(c.golden, n));
        ASSERT_THAT(r, StatusIs(StatusCode::kInvalidArgument, HasSubstr("truncated")))
            << "prefix " << n;
      }
    }
  }
}

TEST(PagestreamResponseTest, TrailingBytesAreRejected) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (const ResponseCase& c : ResponseCases(v)) {
      SCOPED_TRACE(c.name + " v" + std::to_string(int(v)));
      EXPECT_THAT(DecodeResponse(v, Concat(c.golden, {std::byte{0x41}})),
                  StatusIs(StatusCode::kInvalidArgument, HasSubstr("trailing")));
    }
  }
}

TEST(PagestreamResponseTest, UnknownTagsAreRejected) {
  for (PagestreamVersion v : {kV2, kV3}) {
    for (unsigned tag = 0; tag < 256; ++tag) {
      if (tag >= 100 && tag <= 105) continue;
      Bytes message(64, std::byte{0});
      message[0] = std::byte(tag);
      EXPECT_THAT(
          DecodeResponse(v, message),
          StatusIs(StatusCode::kInvalidArgument, HasSubstr("unknown tag " + std::to_string(tag))));
    }
    EXPECT_THAT(DecodeResponse(v, {}), StatusIs(StatusCode::kInvalidArgument));
  }
}

TEST(PagestreamResponseTest, ErrorWithEmbeddedNulIsRejectedOnDecode) {
  // "ab" NUL "cd" NUL: the message ends at the first NUL, the rest is trailing.
  EXPECT_THAT(
      DecodeResponse(kV2, Hex("67 6162 00 6364 00")),
      StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("trailing"), HasSubstr("offset 2"))));
}

TEST(PagestreamResponseTest, ErrorEncodingReplacesEmbeddedNulWithSpace) {
  Bytes out;
  AppendErrorResponse(kV3, Hdr(kReqId), std::string_view("ab\0cd", 5), out);
  EXPECT_EQ(out, Hex(S("67", kV3HdrHex, "6162 20 6364 00")));
  ASSERT_OK_AND_ASSIGN(PagestreamResponse r, DecodeResponse(kV3, out));
  EXPECT_EQ(r.error, "ab cd");
  EXPECT_EQ(r.hdr, Hdr(kReqId));
}

TEST(PagestreamResponseTest, ErrorWithoutTerminatorIsTruncated) {
  EXPECT_THAT(DecodeResponse(kV2, Hex("67 616263")),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("no NUL terminator"), HasSubstr("tag 103"))));
}

TEST(PagestreamResponseTest, EmptyErrorMessageDecodes) {
  ASSERT_OK_AND_ASSIGN(PagestreamResponse r, DecodeResponse(kV2, Hex("67 00")));
  EXPECT_EQ(r.tag, PagestreamResponseTag::kError);
  EXPECT_EQ(r.error, "");
}

TEST(PagestreamResponseTest, ExistsByteOtherThanZeroOrOneIsRejected) {
  EXPECT_THAT(DecodeResponse(kV2, Hex("64 02")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exists byte is 2")));
}

TEST(PagestreamResponseTest, SlruSegmentLengthMustMatchItsBlockCount) {
  // Claims 3 blocks, carries 2.
  const Bytes message = Concat(Hex("69 00000003"), Concat(Page(0), Page(1)));
  EXPECT_THAT(
      DecodeResponse(kV2, message),
      StatusIs(StatusCode::kInvalidArgument,
               AllOf(HasSubstr("3 blocks"), HasSubstr("expected 24581"), HasSubstr("got 16389"))));
  // A huge block count in a short message is an error, not an allocation.
  EXPECT_THAT(DecodeResponse(kV2, Hex("69 FFFFFFFF")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("truncated")));
}

TEST(PagestreamResponseTest, EmptySlruSegmentRoundTrips) {
  Bytes out;
  AppendSlruSegmentResponse(kV3, GetSlruSegmentRequest{Hdr(kReqId), 2, 7}, {}, out);
  ASSERT_OK_AND_ASSIGN(PagestreamResponse r, DecodeResponse(kV3, out));
  EXPECT_EQ(r.n_blocks, 0u);
  EXPECT_EQ(r.slru_kind, 2);
  EXPECT_EQ(r.slru_segno, 7u);
  EXPECT_TRUE(r.data.empty());
}

// -------------------------------------------------------------------- ingest

timeline::Value WriteValue() {
  const Bytes bytes = Hex("AABB");
  return timeline::Value::Write(16, bytes).value();
}

const Key kIngestKey = Key::RelBlock(RelTag{1663, 5, 16384, 0}, 0x20B6);
constexpr std::string_view kIngestKeyHex = "00 0000067F 00000005 00004000 00 000020B6";

TEST(IngestStreamTest, RecordsMatchGoldenBytes) {
  Bytes out;
  AppendIngestPut(Lsn{0x100000028}, kIngestKey, WriteValue(), out);
  AppendIngestCommit(Lsn{0x100000028}, out);
  AppendIngestFlush(out);
  // 'P' lsn | key | value_len 7 | 01 1000 0200 AABB ; 'C' lsn ; 'F'
  const Bytes expected = Hex(S("50 0000000100000028", kIngestKeyHex, "00000007 01 1000 0200 AABB",
                               "43 0000000100000028 46"));
  EXPECT_EQ(out, expected);
}

TEST(IngestStreamTest, MessageDecodesToItsRecordsInOrder) {
  Bytes out;
  const Bytes page = Page(9);
  const timeline::Value image = timeline::Value::Image(page).value();
  AppendIngestPut(Lsn{0x10}, kIngestKey, image, out);
  AppendIngestPut(Lsn{0x18}, kIngestKey.Next(), WriteValue(), out);
  AppendIngestCommit(Lsn{0x18}, out);
  AppendIngestFlush(out);
  ASSERT_OK_AND_ASSIGN(std::vector<IngestRecord> records, DecodeIngestMessage(out, 0));
  ASSERT_EQ(records.size(), 4u);
  const auto& put0 = std::get<IngestPut>(records[0]);
  EXPECT_EQ(put0.lsn, Lsn{0x10});
  EXPECT_EQ(put0.key, kIngestKey);
  EXPECT_EQ(put0.value, image);
  const auto& put1 = std::get<IngestPut>(records[1]);
  EXPECT_EQ(put1.key, kIngestKey.Next());
  EXPECT_EQ(put1.value, WriteValue());
  EXPECT_EQ(std::get<IngestCommit>(records[2]).lsn, Lsn{0x18});
  EXPECT_TRUE(std::holds_alternative<IngestFlush>(records[3]));
}

TEST(IngestStreamTest, EmptyMessageHasNoRecords) {
  ASSERT_OK_AND_ASSIGN(std::vector<IngestRecord> records, DecodeIngestMessage({}, 5));
  EXPECT_TRUE(records.empty());
}

TEST(IngestStreamTest, BadValueEncodingNamesRecordIndexLsnAndKey) {
  Bytes out;
  AppendIngestCommit(Lsn{0x8}, out);
  // value kind 7 does not exist.
  const Bytes bad = Hex(S("50 0000000000000010", kIngestKeyHex, "00000002 07 00"));
  out = Concat(out, bad);
  EXPECT_THAT(DecodeIngestMessage(out, 40),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("record 41"), HasSubstr("offset 9"), HasSubstr("bad value"),
                             HasSubstr("0/10"), HasSubstr(kIngestKey.ToHex()))));
}

TEST(IngestStreamTest, WriteRecordPastThePageEndIsRejected) {
  // write at offset 8191 of 2 bytes: offset + len > 8192.
  const Bytes bad = Hex(S("50 0000000000000010", kIngestKeyHex, "00000007 01 FF1F 0200 AABB"));
  EXPECT_THAT(
      DecodeIngestMessage(bad, 0),
      StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("record 0"), HasSubstr("bad value"))));
}

TEST(IngestStreamTest, EveryTruncationIsRejectedOrEndsAtARecordBoundary) {
  Bytes out;
  AppendIngestPut(Lsn{0x10}, kIngestKey, WriteValue(), out);  // 38 bytes
  const size_t put_end = out.size();
  AppendIngestCommit(Lsn{0x10}, out);  // 9 bytes
  const size_t commit_end = out.size();
  AppendIngestFlush(out);
  ASSERT_EQ(put_end, 1u + 8 + 18 + 4 + 7);
  for (size_t n = 0; n < out.size(); ++n) {
    SCOPED_TRACE("prefix " + std::to_string(n));
    const auto r = DecodeIngestMessage(Prefix(out, n), 100);
    if (n == 0 || n == put_end || n == commit_end) {
      ASSERT_OK(r);
      EXPECT_EQ(r->size(), n == 0 ? 0u : n == put_end ? 1u : 2u);
      continue;
    }
    const uint64_t index = n < put_end ? 100 : 101;
    EXPECT_THAT(
        r, StatusIs(StatusCode::kInvalidArgument,
                    AllOf(HasSubstr("record " + std::to_string(index)), HasSubstr("truncated"))));
  }
}

TEST(IngestStreamTest, ValueLengthBeyondTheMessageIsTruncated) {
  const Bytes bad = Hex(S("50 0000000000000010", kIngestKeyHex, "FFFFFFFF 00"));
  EXPECT_THAT(DecodeIngestMessage(bad, 0),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("value_len 4294967295"), HasSubstr("1 bytes left"))));
}

TEST(IngestStreamTest, UnknownRecordTagNamesItsIndexAndOffset) {
  Bytes out;
  AppendIngestFlush(out);
  AppendIngestFlush(out);
  out.push_back(std::byte{'X'});
  EXPECT_THAT(
      DecodeIngestMessage(out, 7),
      StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("record 9"), HasSubstr("offset 2"),
                                                   HasSubstr("unknown record tag 88"))));
}

TEST(IngestStreamTest, StatusRoundTripsAndMatchesGolden) {
  const IngestStatus status{Lsn{0x100000028}, Lsn{0x20}};
  const Bytes bytes = EncodeIngestStatus(status);
  EXPECT_EQ(bytes, Hex("53 0000000100000028 0000000000000020"));
  ASSERT_OK_AND_ASSIGN(IngestStatus decoded, DecodeIngestStatus(bytes));
  EXPECT_EQ(decoded, status);
}

TEST(IngestStreamTest, MalformedStatusIsRejected) {
  const Bytes good = EncodeIngestStatus({Lsn{1}, Lsn{2}});
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THAT(DecodeIngestStatus(Prefix(good, n)), StatusIs(StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(DecodeIngestStatus(Concat(good, {std::byte{0}})),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("got 18")));
  Bytes wrong_tag = good;
  wrong_tag[0] = std::byte{'E'};
  EXPECT_THAT(DecodeIngestStatus(wrong_tag),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("got 69")));
}

TEST(IngestStreamTest, RandomMessagesRoundTrip) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    Bytes message;
    const size_t n = rng() % 8;
    for (size_t i = 0; i < n; ++i) {
      const Key key{uint8_t(rng()),  uint32_t(rng()), uint32_t(rng()),
                    uint32_t(rng()), uint8_t(rng()),  uint32_t(rng())};
      Bytes payload(rng() % 64);
      for (auto& b : payload) b = std::byte(rng());
      switch (rng() % 4) {
        case 0:
          AppendIngestPut(Lsn{rng()}, key, timeline::Value::Image(payload).value(), message);
          break;
        case 1:
          AppendIngestPut(Lsn{rng()}, key, timeline::Value::Init(rng() % 8000, payload).value(),
                          message);
          break;
        case 2:
          AppendIngestCommit(Lsn{rng()}, message);
          break;
        default:
          AppendIngestFlush(message);
      }
    }
    ASSERT_OK_AND_ASSIGN(std::vector<IngestRecord> records, DecodeIngestMessage(message, 0));
    ASSERT_EQ(records.size(), n);
    Bytes again;
    for (const IngestRecord& r : records) {
      if (const auto* put = std::get_if<IngestPut>(&r)) {
        AppendIngestPut(put->lsn, put->key, put->value, again);
      } else if (const auto* commit = std::get_if<IngestCommit>(&r)) {
        AppendIngestCommit(commit->lsn, again);
      } else {
        AppendIngestFlush(again);
      }
    }
    ASSERT_EQ(again, message);
  }
}

}  // namespace
}  // namespace pageserver::server
