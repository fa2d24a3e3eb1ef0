#include "layers/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <optional>
#include <random>
#include <span>

namespace pageserver::layers {
namespace {

constexpr size_t kIdHexDigits = 32;
constexpr char kLowerHex[] = "0123456789abcdef";

std::optional<uint8_t> HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
  if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
  if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
  return std::nullopt;
}

// Fills `out` from getrandom(2). False if the kernel refuses (ENOSYS on
// kernels before 3.17, or a seccomp filter); EINTR and short reads retry.
bool FillFromGetrandom(std::span<std::byte> out) {
  size_t filled = 0;
  while (filled < out.size()) {
    const ssize_t n = ::getrandom(out.data() + filled, out.size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    filled += static_cast<size_t>(n);
  }
  return true;
}

void FillFromRandomDevice(std::span<std::byte> out) {
  std::random_device device;
  for (std::byte& b : out) b = static_cast<std::byte>(device() & 0xFF);
}

}  // namespace

template <typename Tag>
std::string Id128<Tag>::ToHex() const {
  std::string out;
  out.reserve(kIdHexDigits);
  for (std::byte b : bytes) {
    const auto v = std::to_integer<unsigned>(b);
    out.push_back(kLowerHex[v >> 4]);
    out.push_back(kLowerHex[v & 0xF]);
  }
  return out;
}

template <typename Tag>
common::Result<Id128<Tag>> Id128<Tag>::ParseHex(std::string_view text) {
  if (text.size() != kIdHexDigits) {
    return common::Status::InvalidArgument("id is not 32 hex digits: \"" + std::string(text) +
                                           "\"");
  }
  Id128 id;
  for (size_t i = 0; i < id.bytes.size(); ++i) {
    const std::optional<uint8_t> hi = HexDigitValue(text[2 * i]);
    const std::optional<uint8_t> lo = HexDigitValue(text[2 * i + 1]);
    if (!hi || !lo) {
      return common::Status::InvalidArgument("id has a non-hex digit: \"" + std::string(text) +
                                             "\"");
    }
    id.bytes[i] = static_cast<std::byte>((*hi << 4) | *lo);
  }
  return id;
}

template <typename Tag>
Id128<Tag> Id128<Tag>::Generate() {
  Id128 id;
  if (!FillFromGetrandom(id.bytes)) FillFromRandomDevice(id.bytes);
  return id;
}

template struct Id128<TenantTag>;
template struct Id128<TimelineTag>;

}  // namespace pageserver::layers
