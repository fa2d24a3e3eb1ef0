// libFuzzer target for BtreeNodeView::Parse, the parser of untrusted disk
// B-tree node bytes (layers/disk_btree.h).
//
// Each input is parsed raw (only an input of exactly kNodeSize bytes can
// parse) and zero-padded or truncated to kNodeSize, with key widths 18
// (image layers), 26 (delta layers), 1, 64 and the width the node claims.
// When the first input byte is odd the checksum is recomputed first, so the
// fuzzer gets past it and explores the header and entry checks. Every node
// that parses is read through KeyAt/ValueAt/CompareKeyAt/LowerBound/FloorIndex
// and must satisfy their contracts (Parse guarantees strictly ascending
// keys); a violation traps.
//
// Built by the fuzz preset (fuzz/CMakeLists.txt), run by scripts/fuzz.sh.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "common/crc32c.h"
#include "layers/disk_btree.h"

namespace {

using pageserver::layers::BtreeNodeView;
using pageserver::layers::kMaxKeyWidth;
using pageserver::layers::kNodeSize;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void FixCrc(std::span<std::byte> block) {
  const uint32_t crc = pageserver::common::crc32c::Value(block.subspan(4));
  for (int i = 0; i < 4; ++i) block[i] = static_cast<std::byte>(crc >> (8 * i));
}

// Entry i's key must be found exactly at i by every search.
void CheckEntry(const BtreeNodeView& view, size_t i, std::span<std::byte> key) {
  view.KeyAt(i, key);
  (void)view.ValueAt(i);
  Check(view.CompareKeyAt(i, key) == 0);
  Check(view.LowerBound(key) == i);
  Check(view.FloorIndex(key) == std::optional<size_t>(i));
  if (i > 0) Check(view.CompareKeyAt(i - 1, key) < 0);
}

// Whether entry j exists and equals `key`.
bool EntryEquals(const BtreeNodeView& view, size_t j, std::span<const std::byte> key) {
  return j < view.count() && view.CompareKeyAt(j, key) == 0;
}

// The key just above entry i (its last byte + 1, when that does not wrap)
// lies in (key_i, key_i+1]; the key just below, in [key_i-1, key_i).
void CheckNeighbours(const BtreeNodeView& view, size_t i, std::span<std::byte> key) {
  view.KeyAt(i, key);
  std::byte& last = key[key.size() - 1];
  if (last != std::byte{0xff}) {
    last = static_cast<std::byte>(std::to_integer<int>(last) + 1);
    Check(view.LowerBound(key) == i + 1);
    Check(view.FloorIndex(key) == (EntryEquals(view, i + 1, key) ? i + 1 : i));
  }
  view.KeyAt(i, key);
  if (last != std::byte{0}) {
    last = static_cast<std::byte>(std::to_integer<int>(last) - 1);
    const bool hits_previous = i > 0 && EntryEquals(view, i - 1, key);
    Check(view.LowerBound(key) == (hits_previous ? i - 1 : i));
    Check(view.FloorIndex(key) == (i == 0 ? std::nullopt : std::optional<size_t>(i - 1)));
  }
}

// A probe key made of input bytes: the searches agree with a linear scan.
void CheckProbe(const BtreeNodeView& view, std::span<const uint8_t> input,
                std::span<std::byte> key) {
  for (size_t j = 0; j < key.size(); ++j) {
    key[j] = input.empty() ? std::byte{0} : static_cast<std::byte>(input[(j * 7) % input.size()]);
  }
  size_t lower = 0;
  while (lower < view.count() && view.CompareKeyAt(lower, key) < 0) ++lower;
  size_t upper = lower;
  while (upper < view.count() && view.CompareKeyAt(upper, key) <= 0) ++upper;
  Check(view.LowerBound(key) == lower);
  Check(view.FloorIndex(key) == (upper == 0 ? std::nullopt : std::optional<size_t>(upper - 1)));
}

void Explore(std::span<const std::byte> block, size_t key_width, std::span<const uint8_t> input) {
  auto parsed = BtreeNodeView::Parse(block, key_width, "fuzz");
  if (!parsed.has_value()) return;
  const BtreeNodeView& view = *parsed;
  const std::optional<BtreeNodeView> verified = BtreeNodeView::ParseVerified(block, key_width);
  Check(verified.has_value() && verified->count() == view.count() &&
        verified->prefix_len() == view.prefix_len() && verified->level() == view.level());
  Check(view.key_width() == key_width && view.prefix_len() <= key_width);
  std::array<std::byte, kMaxKeyWidth> buf{};
  const std::span<std::byte> key(buf.data(), key_width);
  for (size_t i = 0; i < view.count(); ++i) {
    CheckEntry(view, i, key);
    CheckNeighbours(view, i, key);
  }
  CheckProbe(view, input, key);
}

void ExploreWidths(std::span<const std::byte> block, std::span<const uint8_t> input) {
  const size_t claimed = block.size() > 8 ? std::to_integer<size_t>(block[8]) : 0;
  for (size_t width : {size_t{18}, size_t{26}, size_t{1}, kMaxKeyWidth, claimed}) {
    Explore(block, width, input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  ExploreWidths(std::as_bytes(input), input);  // raw: parses only at exactly kNodeSize
  std::vector<std::byte> block(kNodeSize);
  std::memcpy(block.data(), data, std::min(size, kNodeSize));
  if (size > 0 && (data[0] & 1) != 0) FixCrc(block);
  ExploreWidths(block, input);
  return 0;
}
