#pragma once

// pgwire: the parts of the Postgres frontend/backend protocol v3 that the
// page service speaks (RFC.md "Page service protocol"). Decoders for what a
// client sends, encoders for what the server answers. Integers are
// big-endian; "string" is UTF-8 text terminated by one NUL.
//
// Startup phase (no type byte): int32 length (counting itself) | int32 code | ...
//   code 196608 (3.0)    StartupMessage: (name string, value string)* NUL
//   code 80877103        SSLRequest     (length 8)
//   code 80877104        GSSENCRequest  (length 8)
//   code 80877102        CancelRequest  (length 16): int32 pid | int32 key
//   any other code is an unsupported protocol version, an error naming it
//   as "major.minor" (code >> 16, code & 0xFFFF).
//
// Normal phase: byte type | int32 length (counting itself, not the type) | body
//   'Q' Query     string (the SQL text)
//   'd' CopyData  bytes
//   'c' CopyDone  (empty)
//   'f' CopyFail  string (the reason)
//   'X' Terminate (empty)
//   'S' Sync      (empty)
//   every other type (Parse, Bind, ...) is an error naming the type.
//
// Decoding is incremental and bounded: given the bytes received so far, a
// decoder answers "need more bytes" (nullopt), or one message and how many
// bytes it spans, or an error. It never reads outside the given span, and
// it rejects a length above the limit as soon as the 5-byte header (or the
// 4-byte startup length) is there, before any body is buffered, so a reader
// never has to hold more than limit + 5 bytes. Errors are InvalidArgument
// naming what is wrong (the type, the length, the limit, the offset of a bad
// byte); an oversized message is ResourceExhausted.
//
// Thread-safety: plain values and pure functions.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pageserver::server::pgwire {

// Protocol codes of the startup phase (Postgres' pqcomm.h).
inline constexpr uint32_t kProtocolV3 = 196608;  // 3 << 16 | 0
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;
inline constexpr uint32_t kCancelRequestCode = 80877102;
// Postgres' MAX_STARTUP_PACKET_LENGTH: the largest startup packet accepted.
inline constexpr size_t kMaxStartupPacketBytes = 10000;

// --- Startup phase ---

enum class StartupKind : uint8_t { kStartup, kSslRequest, kGssEncRequest, kCancel };

struct StartupPacket {
  StartupKind kind = StartupKind::kStartup;
  // kStartup: the parameters in the order sent ("user", "database", ...).
  std::vector<std::pair<std::string, std::string>> parameters;
  // kCancel: the BackendKeyData being cancelled.
  uint32_t cancel_pid = 0;
  uint32_t cancel_key = 0;

  // The value of parameter `name`, or empty when absent.
  std::string_view Parameter(std::string_view name) const;
};

template <typename T>
struct Decoded {
  T message;
  size_t length = 0;  // bytes of the input the message spans
};

// Decodes one startup-phase packet from the front of `buffer`. nullopt: the
// packet is not complete yet. Errors (InvalidArgument): a length below 8 or
// above kMaxStartupPacketBytes, an SSL/GSSENC request not of length 8, a
// CancelRequest not of length 16, an unsupported protocol version (named
// "major.minor"), and in a StartupMessage: a string without its NUL, text
// that is not UTF-8, an empty parameter name, a missing final NUL or bytes
// after it.
common::Result<std::optional<Decoded<StartupPacket>>> DecodeStartupPacket(
    std::span<const std::byte> buffer);

// --- Normal phase ---

enum class FrontendTag : uint8_t {
  kQuery = 'Q',
  kCopyData = 'd',
  kCopyDone = 'c',
  kCopyFail = 'f',
  kTerminate = 'X',
  kSync = 'S',
};

// "Query", "CopyData", ... for messages.
std::string_view FrontendTagName(FrontendTag tag);

// One frontend message. `body` views the decoder's input: it is valid as
// long as that buffer is unchanged. For Query and CopyFail it is the text
// without its NUL (checked to hold no other NUL, but not checked for UTF-8:
// bad text is an error of that query, not of the framing, so the caller
// checks IsValidUtf8 and can keep the connection); CopyData: the data;
// otherwise empty.
struct FrontendMessage {
  FrontendTag tag = FrontendTag::kQuery;
  std::span<const std::byte> body;

  std::string_view text() const {
    return {reinterpret_cast<const char*>(body.data()), body.size()};
  }
};

// Decodes one message from the front of `buffer`; nullopt while incomplete.
// Errors: an unknown type ("unsupported frontend message type 'P' (0x50)"),
// a length field below 4 (InvalidArgument), a body above
// `max_body_bytes` (ResourceExhausted, reported from the header alone), a
// non-empty body for CopyDone / Terminate / Sync, and for Query / CopyFail a
// body without its final NUL or with a NUL inside.
common::Result<std::optional<Decoded<FrontendMessage>>> DecodeFrontendMessage(
    std::span<const std::byte> buffer, size_t max_body_bytes);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or
// code points above U+10FFFF). IsValidUtf8("h\xC3\xA9") is true,
// IsValidUtf8("\xC3") false.
bool IsValidUtf8(std::string_view text);

// --- Backend messages: each Append* appends one whole message to `out` ---

// ReadyForQuery transaction status.
inline constexpr char kTransactionIdle = 'I';

// Error and notice fields (Postgres' ErrorResponse): severity ('S' and the
// non-localized 'V'), SQLSTATE code ('C'), message ('M').
struct ErrorFields {
  std::string_view severity = "ERROR";
  std::string_view sqlstate = "XX000";  // internal_error
  std::string_view message;
};
// SQLSTATE codes the page service uses.
inline constexpr std::string_view kSqlStateProtocolViolation = "08P01";
inline constexpr std::string_view kSqlStateFeatureNotSupported = "0A000";
inline constexpr std::string_view kSqlStateSyntaxError = "42601";
inline constexpr std::string_view kSqlStateInvalidParameter = "22023";
inline constexpr std::string_view kSqlStateUndefinedObject = "42704";
inline constexpr std::string_view kSqlStateAdminShutdown = "57P01";
inline constexpr std::string_view kSqlStateInternalError = "XX000";
inline constexpr std::string_view kSqlStateTooManyConnections = "53300";
inline constexpr std::string_view kSqlStateObjectInUse = "55006";
inline constexpr std::string_view kSqlStateQueryCanceled = "57014";

// 'R' int32 8 | int32 0.
void AppendAuthenticationOk(std::vector<std::byte>& out);
// 'S' name string | value string.
void AppendParameterStatus(std::string_view name, std::string_view value,
                           std::vector<std::byte>& out);
// 'K' int32 pid | int32 secret key.
void AppendBackendKeyData(uint32_t pid, uint32_t key, std::vector<std::byte>& out);
// 'Z' byte status.
void AppendReadyForQuery(char status, std::vector<std::byte>& out);
// 'E' ('S' severity, 'V' severity, 'C' code, 'M' message: each a byte and a
// string) NUL. NULs in a field are replaced by spaces.
void AppendErrorResponse(const ErrorFields& fields, std::vector<std::byte>& out);
// 'N', the same fields as ErrorResponse.
void AppendNoticeResponse(const ErrorFields& fields, std::vector<std::byte>& out);
// 'C' tag string ("COPY 0", "SELECT 1").
void AppendCommandComplete(std::string_view tag, std::vector<std::byte>& out);
// 'I' (empty): the answer to an empty query string.
void AppendEmptyQueryResponse(std::vector<std::byte>& out);
// 'T' int16 n | n * (name string | table oid 0 | column 0 | type oid 25
// (text) | typlen -1 | typmod -1 | format 0 (text)).
void AppendTextRowDescription(std::span<const std::string_view> columns,
                              std::vector<std::byte>& out);
// 'D' int16 n | n * (int32 length | bytes); every value is present (text).
void AppendTextDataRow(std::span<const std::string_view> values, std::vector<std::byte>& out);
// 'G' / 'H' / 'W' int8 format 0 | int16 0 columns: the server's side of COPY
// FROM STDIN, COPY TO STDOUT and COPY BOTH, with no column formats (as Neon's
// page service answers).
void AppendCopyInResponse(std::vector<std::byte>& out);
void AppendCopyOutResponse(std::vector<std::byte>& out);
void AppendCopyBothResponse(std::vector<std::byte>& out);
// 'd' int32 length | data.
void AppendCopyData(std::span<const std::byte> data, std::vector<std::byte>& out);
// 'c' int32 4.
void AppendCopyDone(std::vector<std::byte>& out);

// Building a CopyData message in place, for payloads appended by another
// encoder (pagestream responses):
//   size_t start = BeginCopyData(out);
//   AppendGetPageResponse(..., out);
//   EndCopyData(start, out);  // patches the length
size_t BeginCopyData(std::vector<std::byte>& out);
// REQUIRES: `start` came from BeginCopyData on the same `out`.
void EndCopyData(size_t start, std::vector<std::byte>& out);

}  // namespace pageserver::server::pgwire
