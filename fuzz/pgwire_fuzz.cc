// libFuzzer target for the Postgres v3 wire decoders (server/pgwire.h):
// arbitrary bytes decoded as a startup-phase packet and as a sequence of
// normal-phase messages, the way the page service cuts its read buffer.
//
// Properties checked (a violation traps): a decoded message never spans
// more bytes than were given; a decoded message's body lies inside it; the
// same bytes plus more input still decode to the same message (decoding
// depends only on the message's own bytes, so a reader may decode as soon
// as enough bytes arrived). Errors are fine; crashes, leaks and UB are not.
//
// Built by the fuzz preset (fuzz/CMakeLists.txt), run by scripts/fuzz.sh.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "server/pgwire.h"

namespace {

namespace pgwire = pageserver::server::pgwire;

// A small limit so oversize paths are reached.
constexpr size_t kMaxBody = 4096;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void FuzzStartup(std::span<const std::byte> input) {
  auto decoded = pgwire::DecodeStartupPacket(input);
  if (!decoded.has_value() || !decoded->has_value()) return;
  Check((*decoded)->length <= input.size());
  auto again = pgwire::DecodeStartupPacket(input.first((*decoded)->length));
  Check(again.has_value() && again->has_value() && (*again)->length == (*decoded)->length);
  Check((*again)->message.parameters == (*decoded)->message.parameters);
}

void FuzzMessages(std::span<const std::byte> input) {
  while (!input.empty()) {
    auto decoded = pgwire::DecodeFrontendMessage(input, kMaxBody);
    if (!decoded.has_value() || !decoded->has_value()) return;
    const auto& m = **decoded;
    Check(m.length >= 5 && m.length <= input.size());
    const auto* end = input.data() + m.length;
    Check(m.message.body.empty() || (m.message.body.data() >= input.data() &&
                                     m.message.body.data() + m.message.body.size() <= end));
    auto again = pgwire::DecodeFrontendMessage(input.first(m.length), kMaxBody);
    Check(again.has_value() && again->has_value() && (*again)->length == m.length &&
          (*again)->message.tag == m.message.tag);
    input = input.subspan(m.length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy, so a read past the end is caught.
  auto copy = std::make_unique<std::byte[]>(size);
  for (size_t i = 0; i < size; ++i) copy[i] = std::byte(data[i]);
  const std::span<const std::byte> input(copy.get(), size);
  FuzzStartup(input);
  FuzzMessages(input);
  if (size > 0) pgwire::IsValidUtf8({reinterpret_cast<const char*>(data), size});
  return 0;
}
