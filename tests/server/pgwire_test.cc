#include "server/pgwire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"

namespace pageserver::server::pgwire {
namespace {

using common::StatusCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using testing::StatusIs;

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(std::byte(v));
  return out;
}

std::vector<std::byte> Bytes(std::string_view text) {
  std::vector<std::byte> out;
  for (char c : text) out.push_back(std::byte(c));
  return out;
}

std::vector<std::byte> Concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::byte> Be32(uint32_t v) {
  return Bytes({int(v >> 24), int((v >> 16) & 0xFF), int((v >> 8) & 0xFF), int(v & 0xFF)});
}

// A startup-phase packet: length | code | body.
std::vector<std::byte> StartupPacketBytes(uint32_t code, const std::vector<std::byte>& body) {
  return Concat(Concat(Be32(static_cast<uint32_t>(8 + body.size())), Be32(code)), body);
}

// A frontend message: type | length | body.
std::vector<std::byte> Message(char type, const std::vector<std::byte>& body) {
  return Concat(Concat(Bytes({type}), Be32(static_cast<uint32_t>(4 + body.size()))), body);
}

std::vector<std::byte> StartupBody() {
  return Bytes(std::string_view("user\0alice\0database\0db\0\0", 24));
}

TEST(PgwireStartupTest, DecodesStartupMessageParameters) {
  const auto packet = StartupPacketBytes(kProtocolV3, StartupBody());
  ASSERT_EQ(packet.size(), 32u);
  ASSERT_OK_AND_ASSIGN(auto decoded, DecodeStartupPacket(packet));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->length, 32u);
  EXPECT_EQ(decoded->message.kind, StartupKind::kStartup);
  EXPECT_THAT(decoded->message.parameters,
              ElementsAre(Pair("user", "alice"), Pair("database", "db")));
  EXPECT_EQ(decoded->message.Parameter("database"), "db");
  EXPECT_EQ(decoded->message.Parameter("options"), "");
}

TEST(PgwireStartupTest, GoldenSslAndGssEncRequests) {
  // 00 00 00 08 | 04 D2 16 2F (80877103) and 04 D2 16 30 (80877104).
  ASSERT_OK_AND_ASSIGN(auto ssl, DecodeStartupPacket(Bytes({0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F})));
  ASSERT_TRUE(ssl.has_value());
  EXPECT_EQ(ssl->message.kind, StartupKind::kSslRequest);
  EXPECT_EQ(ssl->length, 8u);
  ASSERT_OK_AND_ASSIGN(auto gss, DecodeStartupPacket(Bytes({0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30})));
  ASSERT_TRUE(gss.has_value());
  EXPECT_EQ(gss->message.kind, StartupKind::kGssEncRequest);
}

TEST(PgwireStartupTest, DecodesCancelRequest) {
  const auto packet = StartupPacketBytes(kCancelRequestCode, Concat(Be32(1234), Be32(0xCAFEBABE)));
  ASSERT_OK_AND_ASSIGN(auto decoded, DecodeStartupPacket(packet));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->message.kind, StartupKind::kCancel);
  EXPECT_EQ(decoded->message.cancel_pid, 1234u);
  EXPECT_EQ(decoded->message.cancel_key, 0xCAFEBABEu);
}

TEST(PgwireStartupTest, EveryTruncationNeedsMoreBytes) {
  const auto packet = StartupPacketBytes(kProtocolV3, StartupBody());
  for (size_t n = 0; n < packet.size(); ++n) {
    ASSERT_OK_AND_ASSIGN(auto decoded, DecodeStartupPacket(std::span(packet).first(n)));
    EXPECT_FALSE(decoded.has_value()) << "prefix of " << n << " bytes";
  }
}

TEST(PgwireStartupTest, TrailingBytesAfterPacketAreNotConsumed) {
  auto buffer = Concat(StartupPacketBytes(kSslRequestCode, {}), Bytes({0, 0, 0}));
  ASSERT_OK_AND_ASSIGN(auto decoded, DecodeStartupPacket(buffer));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->length, 8u);
}

TEST(PgwireStartupTest, WrongProtocolVersionIsNamed) {
  // Protocol 2.0 (131072), as a pre-7.4 client sends it.
  EXPECT_THAT(DecodeStartupPacket(StartupPacketBytes(2 << 16, StartupBody())),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("protocol 2.0")));
  EXPECT_THAT(DecodeStartupPacket(StartupPacketBytes((3 << 16) | 2, StartupBody())),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("protocol 3.2")));
  // Reported from the first 8 bytes, before the body arrives.
  const auto v2 = StartupPacketBytes(2 << 16, StartupBody());
  EXPECT_THAT(DecodeStartupPacket(std::span(v2).first(8)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("protocol 2.0")));
}

TEST(PgwireStartupTest, BadLengthsAreErrors) {
  EXPECT_THAT(DecodeStartupPacket(Bytes({0, 0, 0, 7})), StatusIs(StatusCode::kInvalidArgument));
  // Oversized: refused from the length field alone.
  EXPECT_THAT(DecodeStartupPacket(Be32(kMaxStartupPacketBytes + 1)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("10000")));
  EXPECT_THAT(DecodeStartupPacket(Be32(0xFFFFFFFF)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeStartupPacket(StartupPacketBytes(kSslRequestCode, Bytes({0}))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expected 8")));
  EXPECT_THAT(DecodeStartupPacket(StartupPacketBytes(kCancelRequestCode, Be32(1))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expected 16")));
}

TEST(PgwireStartupTest, MalformedParametersAreErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("user\0alice", 10), "not NUL-terminated"},
      {std::string("user\0alice\0", 11), "final NUL"},
      {std::string("user\0alice\0\0x", 13), "after the final NUL"},
      // A leading NUL ends the (empty) list: what follows is trailing garbage.
      {std::string("\0alice\0\0", 8), "after the final NUL"},
      {std::string("user\0al\xC3\0\0", 10), "UTF-8"},
      {std::string("us\xFF\0alice\0\0", 11), "UTF-8"},
  };
  for (const auto& [body, what] : cases) {
    EXPECT_THAT(DecodeStartupPacket(StartupPacketBytes(kProtocolV3, Bytes(body))),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(what)))
        << what;
  }
}

TEST(PgwireStartupTest, EmptyParameterListIsAccepted) {
  ASSERT_OK_AND_ASSIGN(auto decoded,
                       DecodeStartupPacket(StartupPacketBytes(kProtocolV3, Bytes({0}))));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->message.parameters.empty());
}

TEST(PgwireFrontendTest, DecodesGoldenQuery) {
  // 'Q' | 00 00 00 0B | "select" NUL
  const auto message = Bytes(std::string_view("Q\0\0\0\x0Bselect\0", 12));
  ASSERT_OK_AND_ASSIGN(auto decoded, DecodeFrontendMessage(message, 1024));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->length, 12u);
  EXPECT_EQ(decoded->message.tag, FrontendTag::kQuery);
  EXPECT_EQ(decoded->message.text(), "select");
}

TEST(PgwireFrontendTest, DecodesCopyMessagesAndControlMessages) {
  const auto data = Message('d', Bytes({1, 2, 3}));
  ASSERT_OK_AND_ASSIGN(auto copy_data, DecodeFrontendMessage(data, 1024));
  ASSERT_TRUE(copy_data.has_value());
  EXPECT_EQ(copy_data->message.tag, FrontendTag::kCopyData);
  EXPECT_EQ(copy_data->message.body.size(), 3u);
  EXPECT_EQ(copy_data->message.body[2], std::byte{3});
  for (char type : {'c', 'X', 'S'}) {
    ASSERT_OK_AND_ASSIGN(auto decoded, DecodeFrontendMessage(Message(type, {}), 1024));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(static_cast<char>(decoded->message.tag), type);
    EXPECT_EQ(decoded->length, 5u);
  }
  const auto fail_message = Message('f', Bytes(std::string_view("why\0", 4)));
  ASSERT_OK_AND_ASSIGN(auto fail, DecodeFrontendMessage(fail_message, 1024));
  ASSERT_TRUE(fail.has_value());
  EXPECT_EQ(fail->message.text(), "why");
}

TEST(PgwireFrontendTest, EveryTruncationNeedsMoreBytes) {
  const auto message = Message('d', Bytes({1, 2, 3, 4, 5, 6}));
  for (size_t n = 0; n < message.size(); ++n) {
    ASSERT_OK_AND_ASSIGN(auto decoded, DecodeFrontendMessage(std::span(message).first(n), 1024));
    EXPECT_FALSE(decoded.has_value()) << n;
  }
}

TEST(PgwireFrontendTest, TwoMessagesDecodeOneAtATime) {
  const auto buffer = Concat(Message('d', Bytes({9})), Message('c', {}));
  ASSERT_OK_AND_ASSIGN(auto first, DecodeFrontendMessage(buffer, 1024));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->length, 6u);
  ASSERT_OK_AND_ASSIGN(auto second,
                       DecodeFrontendMessage(std::span(buffer).subspan(first->length), 1024));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->message.tag, FrontendTag::kCopyDone);
}

TEST(PgwireFrontendTest, OversizedMessageIsRefusedFromItsHeader) {
  // A CopyData claiming 1 MiB, with only its 5-byte header present.
  const auto header = Concat(Bytes({'d'}), Be32((1u << 20) + 4));
  EXPECT_THAT(DecodeFrontendMessage(header, 1024),
              StatusIs(StatusCode::kResourceExhausted, HasSubstr("exceeds the limit of 1024")));
  // Exactly at the limit is fine.
  ASSERT_OK_AND_ASSIGN(auto at_limit,
                       DecodeFrontendMessage(Message('d', std::vector<std::byte>(1024)), 1024));
  EXPECT_TRUE(at_limit.has_value());
}

TEST(PgwireFrontendTest, UnknownTypesAreNamed) {
  EXPECT_THAT(DecodeFrontendMessage(Message('P', Bytes({0, 0, 0, 0})), 1024),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'P' (0x50)")));
  EXPECT_THAT(DecodeFrontendMessage(Bytes({0x00}), 1024),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("0x00")));
  EXPECT_THAT(DecodeFrontendMessage(Bytes({0xFF}), 1024),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("0xFF")));
}

TEST(PgwireFrontendTest, MalformedBodiesAreErrors) {
  EXPECT_THAT(DecodeFrontendMessage(Concat(Bytes({'d'}), Be32(3)), 1024),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("below 4")));
  EXPECT_THAT(DecodeFrontendMessage(Message('Q', Bytes("select")), 1024),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not NUL-terminated")));
  EXPECT_THAT(DecodeFrontendMessage(Message('Q', {}), 1024),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not NUL-terminated")));
  EXPECT_THAT(DecodeFrontendMessage(Message('Q', Bytes(std::string_view("a\0b\0", 4))), 1024),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("NUL inside")));
  EXPECT_THAT(DecodeFrontendMessage(Message('X', Bytes({1})), 1024),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expected 0")));
}

TEST(PgwireFrontendTest, QueryTextIsNotCheckedForUtf8) {
  // Framing is fine; the page service answers the bad text with an error
  // for that query and keeps the connection.
  const auto message = Message('Q', Bytes(std::string_view("ingest \xC3\x28\0", 10)));
  ASSERT_OK_AND_ASSIGN(auto decoded, DecodeFrontendMessage(message, 1024));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_FALSE(IsValidUtf8(decoded->message.text()));
}

TEST(PgwireUtf8Test, AcceptsWellFormedAndRejectsMalformed) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("pagestream_v2"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9"));          // é
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));       // €
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));   // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));   // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xE2\x28\xA1"));      // bad continuation
}

TEST(PgwireEncodeTest, GoldenBackendMessages) {
  std::vector<std::byte> out;
  AppendAuthenticationOk(out);
  EXPECT_EQ(out, Bytes({'R', 0, 0, 0, 8, 0, 0, 0, 0}));
  out.clear();
  AppendParameterStatus("a", "b", out);
  EXPECT_EQ(out, Bytes({'S', 0, 0, 0, 8, 'a', 0, 'b', 0}));
  out.clear();
  AppendBackendKeyData(7, 0x01020304, out);
  EXPECT_EQ(out, Bytes({'K', 0, 0, 0, 12, 0, 0, 0, 7, 1, 2, 3, 4}));
  out.clear();
  AppendReadyForQuery(kTransactionIdle, out);
  EXPECT_EQ(out, Bytes({'Z', 0, 0, 0, 5, 'I'}));
  out.clear();
  AppendCommandComplete("COPY 0", out);
  EXPECT_EQ(out, Bytes({'C', 0, 0, 0, 11, 'C', 'O', 'P', 'Y', ' ', '0', 0}));
  out.clear();
  AppendEmptyQueryResponse(out);
  EXPECT_EQ(out, Bytes({'I', 0, 0, 0, 4}));
  out.clear();
  AppendCopyBothResponse(out);
  EXPECT_EQ(out, Bytes({'W', 0, 0, 0, 7, 0, 0, 0}));
  out.clear();
  AppendCopyInResponse(out);
  EXPECT_EQ(out, Bytes({'G', 0, 0, 0, 7, 0, 0, 0}));
  out.clear();
  AppendCopyOutResponse(out);
  EXPECT_EQ(out, Bytes({'H', 0, 0, 0, 7, 0, 0, 0}));
  out.clear();
  AppendCopyData(Bytes({0xAB}), out);
  EXPECT_EQ(out, Bytes({'d', 0, 0, 0, 5, 0xAB}));
  out.clear();
  AppendCopyDone(out);
  EXPECT_EQ(out, Bytes({'c', 0, 0, 0, 4}));
}

TEST(PgwireEncodeTest, GoldenErrorResponse) {
  std::vector<std::byte> out;
  AppendErrorResponse({.severity = "ERROR", .sqlstate = "08P01", .message = "bad"}, out);
  const auto expected = Concat(Bytes({'E', 0, 0, 0, 31}),
                               Bytes(std::string_view("SERROR\0VERROR\0C08P01\0Mbad\0\0", 27)));
  EXPECT_EQ(out, expected);
  out.clear();
  AppendNoticeResponse(
      {.severity = "NOTICE", .sqlstate = "00000", .message = std::string_view("a\0b", 3)}, out);
  EXPECT_EQ(out[0], std::byte{'N'});
  // The NUL inside the message became a space.
  const std::string text(reinterpret_cast<const char*>(out.data()), out.size());
  EXPECT_NE(text.find("Ma b"), std::string::npos);
}

TEST(PgwireEncodeTest, GoldenRowDescriptionAndDataRow) {
  std::vector<std::byte> out;
  const std::string_view columns[] = {"x"};
  AppendTextRowDescription(columns, out);
  EXPECT_EQ(out, Bytes({'T', 0, 0, 0, 26, 0,    1,    'x',  0,    0,    0,    0, 0, 0,
                        0,   0, 0, 0, 25, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0}));
  out.clear();
  const std::string_view values[] = {"ab"};
  AppendTextDataRow(values, out);
  EXPECT_EQ(out, Bytes({'D', 0, 0, 0, 12, 0, 1, 0, 0, 0, 2, 'a', 'b'}));
}

TEST(PgwireEncodeTest, CopyDataBuiltInPlaceGetsItsLength) {
  std::vector<std::byte> out = Bytes({'Z'});
  const size_t start = BeginCopyData(out);
  out.push_back(std::byte{1});
  out.push_back(std::byte{2});
  EndCopyData(start, out);
  EXPECT_EQ(out, Bytes({'Z', 'd', 0, 0, 0, 6, 1, 2}));
}

TEST(PgwireFuzzTest, RandomBytesNeverReadOutsideTheBuffer) {
  const uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const auto base = Concat(Message('Q', Bytes(std::string_view("pagestream_v2 a b\0", 18))),
                           StartupPacketBytes(kProtocolV3, StartupBody()));
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::byte> buf = base;
    buf.resize(rng() % (base.size() + 1));
    for (int f = 0, flips = static_cast<int>(rng() % 4); f < flips && !buf.empty(); ++f) {
      buf[rng() % buf.size()] = std::byte(rng());
    }
    // A heap copy of the exact size, so ASan catches a read past the end.
    auto exact = std::make_unique<std::byte[]>(buf.size());
    std::copy(buf.begin(), buf.end(), exact.get());
    auto m = DecodeFrontendMessage(std::span(exact.get(), buf.size()), 64);
    if (m.has_value() && m->has_value()) {
      EXPECT_LE((*m)->length, buf.size());
    }
    auto s = DecodeStartupPacket(std::span(exact.get(), buf.size()));
    if (s.has_value() && s->has_value()) {
      EXPECT_LE((*s)->length, buf.size());
    }
  }
}

}  // namespace
}  // namespace pageserver::server::pgwire
