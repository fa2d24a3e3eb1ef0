#include "server/pgwire.h"

#include <cstdio>
#include <cstring>

namespace pageserver::server::pgwire {
namespace {

using common::Result;
using common::Status;

uint32_t LoadU32(std::span<const std::byte> b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) |
         uint32_t(b[at + 3]);
}

void PutU32(uint32_t v, std::vector<std::byte>& out) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(std::byte((v >> shift) & 0xFF));
}
void PutU16(uint16_t v, std::vector<std::byte>& out) {
  out.push_back(std::byte(v >> 8));
  out.push_back(std::byte(v & 0xFF));
}
void PatchU32(uint32_t v, size_t at, std::vector<std::byte>& out) {
  for (int i = 0; i < 4; ++i) out[at + i] = std::byte((v >> (24 - 8 * i)) & 0xFF);
}
void PutBytes(std::string_view s, std::vector<std::byte>& out) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}
// A string field: the text with NULs replaced (they would end it early), then NUL.
void PutString(std::string_view s, std::vector<std::byte>& out) {
  for (char c : s) out.push_back(c == '\0' ? std::byte{' '} : std::byte(c));
  out.push_back(std::byte{0});
}

// Starts a backend message: type byte and a length to patch in Finish().
size_t Begin(char type, std::vector<std::byte>& out) {
  out.push_back(std::byte(type));
  const size_t at = out.size();
  PutU32(0, out);
  return at;
}
void Finish(size_t length_at, std::vector<std::byte>& out) {
  PatchU32(static_cast<uint32_t>(out.size() - length_at), length_at, out);
}

std::string TypeByteText(uint8_t type) {
  char buf[32];
  if (type >= 0x20 && type < 0x7F) {
    std::snprintf(buf, sizeof(buf), "'%c' (0x%02X)", type, type);
  } else {
    std::snprintf(buf, sizeof(buf), "0x%02X", type);
  }
  return buf;
}

std::string_view AsText(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Reads NUL-terminated UTF-8 strings from a startup packet's body.
class StringReader {
 public:
  explicit StringReader(std::span<const std::byte> body) : body_(body) {}
  bool AtFinalNul() const { return pos_ < body_.size() && body_[pos_] == std::byte{0}; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return body_.size() - pos_; }
  void Skip() { ++pos_; }
  // The next string; InvalidArgument when unterminated or not UTF-8.
  Result<std::string> Next(std::string_view what) {
    const auto rest = body_.subspan(pos_);
    const void* nul = std::memchr(rest.data(), 0, rest.size());
    if (nul == nullptr) {
      return Status::InvalidArgument("startup packet: " + std::string(what) + " at offset " +
                                     std::to_string(pos_ + 8) + " is not NUL-terminated");
    }
    const size_t len = static_cast<const std::byte*>(nul) - rest.data();
    std::string_view text = AsText(rest.first(len));
    if (!IsValidUtf8(text)) {
      return Status::InvalidArgument("startup packet: " + std::string(what) + " at offset " +
                                     std::to_string(pos_ + 8) + " is not valid UTF-8");
    }
    pos_ += len + 1;
    return std::string(text);
  }

 private:
  std::span<const std::byte> body_;
  size_t pos_ = 0;
};

Result<StartupPacket> ParseStartupParameters(std::span<const std::byte> body) {
  StartupPacket packet;
  StringReader reader(body);
  while (!reader.AtFinalNul()) {
    if (reader.remaining() == 0) {
      return Status::InvalidArgument("startup packet: missing the final NUL after the parameters");
    }
    ASSIGN_OR_RETURN(std::string name, reader.Next("parameter name"));
    ASSIGN_OR_RETURN(std::string value, reader.Next("value of parameter \"" + name + "\""));
    packet.parameters.emplace_back(std::move(name), std::move(value));
  }
  reader.Skip();
  if (reader.remaining() != 0) {
    return Status::InvalidArgument("startup packet: " + std::to_string(reader.remaining()) +
                                   " bytes after the final NUL");
  }
  return packet;
}

Status UnsupportedProtocol(uint32_t code) {
  return Status::InvalidArgument("unsupported frontend protocol " + std::to_string(code >> 16) +
                                 "." + std::to_string(code & 0xFFFF) + ": only 3.0 is served");
}

Result<StartupPacket> ParseStartupPacket(uint32_t code, std::span<const std::byte> packet) {
  const size_t length = packet.size();
  const auto body = packet.subspan(8);
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode: {
      if (length != 8) {
        return Status::InvalidArgument("startup packet: encryption request of length " +
                                       std::to_string(length) + ", expected 8");
      }
      StartupPacket p;
      p.kind = code == kSslRequestCode ? StartupKind::kSslRequest : StartupKind::kGssEncRequest;
      return p;
    }
    case kCancelRequestCode: {
      if (length != 16) {
        return Status::InvalidArgument("startup packet: CancelRequest of length " +
                                       std::to_string(length) + ", expected 16");
      }
      StartupPacket p;
      p.kind = StartupKind::kCancel;
      p.cancel_pid = LoadU32(body, 0);
      p.cancel_key = LoadU32(body, 4);
      return p;
    }
    case kProtocolV3:
      return ParseStartupParameters(body);
    default:
      return UnsupportedProtocol(code);
  }
}

bool IsKnownTag(uint8_t type) {
  switch (type) {
    case 'Q':
    case 'd':
    case 'c':
    case 'f':
    case 'X':
    case 'S':
      return true;
    default:
      return false;
  }
}

// Query and CopyFail bodies: one string exactly.
Result<std::span<const std::byte>> StringBody(FrontendTag tag, std::span<const std::byte> body) {
  const std::string name(FrontendTagName(tag));
  if (body.empty() || body.back() != std::byte{0}) {
    return Status::InvalidArgument(name + " message of " + std::to_string(body.size()) +
                                   " bytes: string is not NUL-terminated");
  }
  const auto text = body.first(body.size() - 1);
  if (const void* nul = std::memchr(text.data(), 0, text.size()); nul != nullptr) {
    return Status::InvalidArgument(
        name + " message: NUL inside the string at offset " +
        std::to_string(static_cast<const std::byte*>(nul) - text.data()));
  }
  return text;
}

Result<FrontendMessage> ParseBody(FrontendTag tag, std::span<const std::byte> body) {
  switch (tag) {
    case FrontendTag::kQuery:
    case FrontendTag::kCopyFail: {
      ASSIGN_OR_RETURN(auto text, StringBody(tag, body));
      return FrontendMessage{tag, text};
    }
    case FrontendTag::kCopyData:
      return FrontendMessage{tag, body};
    case FrontendTag::kCopyDone:
    case FrontendTag::kTerminate:
    case FrontendTag::kSync:
      if (!body.empty()) {
        return Status::InvalidArgument(std::string(FrontendTagName(tag)) + " message with " +
                                       std::to_string(body.size()) + " body bytes, expected 0");
      }
      return FrontendMessage{tag, {}};
  }
  return Status::Internal("unreachable frontend tag");
}

// Length of the UTF-8 sequence a lead byte starts (0 for an invalid lead),
// and the allowed range of the second byte (Unicode 15, table 3-7).
struct Utf8Lead {
  int length;
  uint8_t lo;
  uint8_t hi;
};
Utf8Lead ClassifyLead(uint8_t c) {
  if (c < 0x80) return {1, 0, 0};
  if (c >= 0xC2 && c <= 0xDF) return {2, 0x80, 0xBF};
  if (c == 0xE0) return {3, 0xA0, 0xBF};
  if (c == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (c >= 0xE1 && c <= 0xEF) return {3, 0x80, 0xBF};
  if (c == 0xF0) return {4, 0x90, 0xBF};
  if (c >= 0xF1 && c <= 0xF3) return {4, 0x80, 0xBF};
  if (c == 0xF4) return {4, 0x80, 0x8F};  // up to U+10FFFF
  return {0, 0, 0};
}

}  // namespace

std::string_view StartupPacket::Parameter(std::string_view name) const {
  for (const auto& [k, v] : parameters) {
    if (k == name) return v;
  }
  return {};
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Lead lead = ClassifyLead(static_cast<uint8_t>(text[i]));
    if (lead.length == 0) return false;
    if (lead.length == 1) {
      ++i;
      continue;
    }
    if (text.size() - i < static_cast<size_t>(lead.length)) return false;
    const auto second = static_cast<uint8_t>(text[i + 1]);
    if (second < lead.lo || second > lead.hi) return false;
    for (int k = 2; k < lead.length; ++k) {
      const auto c = static_cast<uint8_t>(text[i + k]);
      if (c < 0x80 || c > 0xBF) return false;
    }
    i += lead.length;
  }
  return true;
}

Result<std::optional<Decoded<StartupPacket>>> DecodeStartupPacket(
    std::span<const std::byte> buffer) {
  using Out = std::optional<Decoded<StartupPacket>>;
  if (buffer.size() < 4) return Out();
  const uint32_t length = LoadU32(buffer, 0);
  if (length < 8 || length > kMaxStartupPacketBytes) {
    return Status::InvalidArgument("startup packet of length " + std::to_string(length) +
                                   ": must be 8 to " + std::to_string(kMaxStartupPacketBytes));
  }
  if (buffer.size() < 8) return Out();
  // Reject a bad code before waiting for the rest of the packet.
  const uint32_t code = LoadU32(buffer, 4);
  if (code != kProtocolV3 && code != kSslRequestCode && code != kGssEncRequestCode &&
      code != kCancelRequestCode) {
    return UnsupportedProtocol(code);
  }
  if (buffer.size() < length) return Out();
  ASSIGN_OR_RETURN(StartupPacket packet, ParseStartupPacket(code, buffer.first(length)));
  return Out(Decoded<StartupPacket>{std::move(packet), length});
}

std::string_view FrontendTagName(FrontendTag tag) {
  switch (tag) {
    case FrontendTag::kQuery:
      return "Query";
    case FrontendTag::kCopyData:
      return "CopyData";
    case FrontendTag::kCopyDone:
      return "CopyDone";
    case FrontendTag::kCopyFail:
      return "CopyFail";
    case FrontendTag::kTerminate:
      return "Terminate";
    case FrontendTag::kSync:
      return "Sync";
  }
  return "unknown";
}

Result<std::optional<Decoded<FrontendMessage>>> DecodeFrontendMessage(
    std::span<const std::byte> buffer, size_t max_body_bytes) {
  using Out = std::optional<Decoded<FrontendMessage>>;
  if (buffer.empty()) return Out();
  const auto type = static_cast<uint8_t>(buffer[0]);
  if (!IsKnownTag(type)) {
    return Status::InvalidArgument("unsupported frontend message type " + TypeByteText(type));
  }
  const auto tag = static_cast<FrontendTag>(type);
  if (buffer.size() < 5) return Out();
  const uint32_t length = LoadU32(buffer, 1);
  if (length < 4) {
    return Status::InvalidArgument(std::string(FrontendTagName(tag)) + " message with length " +
                                   std::to_string(length) + " (below 4)");
  }
  const size_t body_size = length - 4;
  if (body_size > max_body_bytes) {
    return Status::ResourceExhausted(std::string(FrontendTagName(tag)) + " message of " +
                                     std::to_string(body_size) + " bytes exceeds the limit of " +
                                     std::to_string(max_body_bytes));
  }
  if (buffer.size() - 5 < body_size) return Out();
  ASSIGN_OR_RETURN(FrontendMessage message, ParseBody(tag, buffer.subspan(5, body_size)));
  return Out(Decoded<FrontendMessage>{message, 5 + body_size});
}

void AppendAuthenticationOk(std::vector<std::byte>& out) {
  const size_t at = Begin('R', out);
  PutU32(0, out);
  Finish(at, out);
}

void AppendParameterStatus(std::string_view name, std::string_view value,
                           std::vector<std::byte>& out) {
  const size_t at = Begin('S', out);
  PutString(name, out);
  PutString(value, out);
  Finish(at, out);
}

void AppendBackendKeyData(uint32_t pid, uint32_t key, std::vector<std::byte>& out) {
  const size_t at = Begin('K', out);
  PutU32(pid, out);
  PutU32(key, out);
  Finish(at, out);
}

void AppendReadyForQuery(char status, std::vector<std::byte>& out) {
  const size_t at = Begin('Z', out);
  out.push_back(std::byte(status));
  Finish(at, out);
}

namespace {
void AppendFields(char type, const ErrorFields& fields, std::vector<std::byte>& out) {
  const size_t at = Begin(type, out);
  out.push_back(std::byte{'S'});
  PutString(fields.severity, out);
  out.push_back(std::byte{'V'});
  PutString(fields.severity, out);
  out.push_back(std::byte{'C'});
  PutString(fields.sqlstate, out);
  out.push_back(std::byte{'M'});
  PutString(fields.message, out);
  out.push_back(std::byte{0});
  Finish(at, out);
}

void AppendCopyResponse(char type, std::vector<std::byte>& out) {
  const size_t at = Begin(type, out);
  out.push_back(std::byte{0});  // overall format: text
  PutU16(0, out);               // no columns
  Finish(at, out);
}
}  // namespace

void AppendErrorResponse(const ErrorFields& fields, std::vector<std::byte>& out) {
  AppendFields('E', fields, out);
}

void AppendNoticeResponse(const ErrorFields& fields, std::vector<std::byte>& out) {
  AppendFields('N', fields, out);
}

void AppendCommandComplete(std::string_view tag, std::vector<std::byte>& out) {
  const size_t at = Begin('C', out);
  PutString(tag, out);
  Finish(at, out);
}

void AppendEmptyQueryResponse(std::vector<std::byte>& out) {
  const size_t at = Begin('I', out);
  Finish(at, out);
}

void AppendTextRowDescription(std::span<const std::string_view> columns,
                              std::vector<std::byte>& out) {
  constexpr uint32_t kTextTypeOid = 25;  // Postgres' TEXTOID
  const size_t at = Begin('T', out);
  PutU16(static_cast<uint16_t>(columns.size()), out);
  for (std::string_view name : columns) {
    PutString(name, out);
    PutU32(0, out);  // table oid
    PutU16(0, out);  // column number
    PutU32(kTextTypeOid, out);
    PutU16(0xFFFF, out);      // typlen -1 (variable)
    PutU32(0xFFFFFFFF, out);  // typmod -1
    PutU16(0, out);           // text format
  }
  Finish(at, out);
}

void AppendTextDataRow(std::span<const std::string_view> values, std::vector<std::byte>& out) {
  const size_t at = Begin('D', out);
  PutU16(static_cast<uint16_t>(values.size()), out);
  for (std::string_view v : values) {
    PutU32(static_cast<uint32_t>(v.size()), out);
    PutBytes(v, out);
  }
  Finish(at, out);
}

void AppendCopyInResponse(std::vector<std::byte>& out) { AppendCopyResponse('G', out); }
void AppendCopyOutResponse(std::vector<std::byte>& out) { AppendCopyResponse('H', out); }
void AppendCopyBothResponse(std::vector<std::byte>& out) { AppendCopyResponse('W', out); }

void AppendCopyData(std::span<const std::byte> data, std::vector<std::byte>& out) {
  const size_t start = BeginCopyData(out);
  out.insert(out.end(), data.begin(), data.end());
  EndCopyData(start, out);
}

void AppendCopyDone(std::vector<std::byte>& out) {
  const size_t at = Begin('c', out);
  Finish(at, out);
}

size_t BeginCopyData(std::vector<std::byte>& out) {
  const size_t start = out.size();
  Begin('d', out);
  return start;
}

void EndCopyData(size_t start, std::vector<std::byte>& out) { Finish(start + 1, out); }

}  // namespace pageserver::server::pgwire
