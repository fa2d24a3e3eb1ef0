// libFuzzer target: arbitrary bytes as block 0 of a layer file.
//
// DecodeSummary must return a summary or an error for any input, never
// crash or read out of bounds. When the first input byte is odd the target
// first writes a valid checksum into the block, so the fuzzer also explores
// the consistency checks behind the checksum.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "common/crc32c.h"
#include "layers/layer_summary.h"

namespace {

using pageserver::layers::kLayerBlockSize;

void FixChecksum(std::array<std::byte, kLayerBlockSize>& block) {
  const uint32_t crc =
      pageserver::common::crc32c::Value(std::span(block).first(kLayerBlockSize - 4));
  std::memcpy(block.data() + kLayerBlockSize - 4, &crc, 4);  // little-endian host
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool fix_crc = (data[0] & 1) != 0;
  ++data;
  --size;
  std::array<std::byte, kLayerBlockSize> block{};
  std::memcpy(block.data(), data, std::min(size, block.size()));
  if (fix_crc) FixChecksum(block);
  auto summary = pageserver::layers::DecodeSummary(block, "fuzz");
  if (summary.has_value()) {
    // A summary that decodes must re-encode to the same block.
    auto again = pageserver::layers::EncodeSummary(*summary);
    if (again != block) __builtin_trap();
    (void)pageserver::layers::CheckFileLength(*summary, summary->file_length, "fuzz");
  }
  // Short blocks must be rejected, not read past.
  (void)pageserver::layers::DecodeSummary(std::span(block).first(size % kLayerBlockSize), "fuzz");
  return 0;
}
