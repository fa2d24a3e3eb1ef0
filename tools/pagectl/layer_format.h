#pragma once

// How pagectl shows layer facts: aligned text for people (one "label  value"
// line per fact, labels padded to kLabelWidth) and JSON objects for scripts.
// JSON field names are stable; integers are JSON numbers, keys are 36-digit
// hex strings, LSNs "X/X" strings.
//
// Thread-safety: pure functions; the Print functions write to stdout.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "layers/layer_iterator.h"
#include "layers/layer_summary.h"
#include "layers/layer_verify.h"

namespace pageserver::pagectl {

inline constexpr int kLabelWidth = 20;

std::string_view KindName(layers::LayerKind kind);  // "image" | "delta"

// "label               value\n" on stdout.
void PrintField(std::string_view label, std::string_view value);

// Bytes as "01 ab ff" (at most max_bytes of them, "..." appended when cut).
std::string HexBytes(std::span<const std::byte> bytes, size_t max_bytes);

// A hexdump -C style dump of the first max_bytes bytes on stdout, each line
// prefixed by `indent`: "  0000  01 02 ... 10  |................|".
void PrintHexDump(std::span<const std::byte> bytes, size_t max_bytes, std::string_view indent);

// "0x1234abcd": the CRC32C of `bytes` (common/crc32c.h), as pagectl prints it.
std::string Crc32cHex(std::span<const std::byte> bytes);

// "12345 (12.1 KiB)".
std::string BytesText(uint64_t bytes);

// The summary's fields as text lines / a JSON object.
void PrintSummaryText(const layers::LayerSummary& summary);
nlohmann::json SummaryJson(const layers::LayerSummary& summary);

// The index and value statistics (without the summary) as text / JSON.
void PrintStatsText(const layers::LayerStats& stats);
nlohmann::json StatsJson(const layers::LayerStats& stats);

// One entry of `dump --keys`: a header line, then one aligned line per entry.
void PrintEntryHeader();
void PrintEntryText(const layers::LayerEntry& entry);
nlohmann::json EntryJson(const layers::LayerEntry& entry);

// A verify report: "OK ..." or one line per problem / a JSON object.
void PrintVerifyText(const std::string& path, const layers::VerifyReport& report);
nlohmann::json VerifyJson(const std::string& path, const layers::VerifyReport& report);

}  // namespace pageserver::pagectl
