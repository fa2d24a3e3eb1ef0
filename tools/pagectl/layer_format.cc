#include "tools/pagectl/layer_format.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <iterator>

#include "common/crc32c.h"

namespace pageserver::pagectl {

namespace {

using nlohmann::json;

std::string Format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, value);
  return buf;
}

json KeyRangeJson(const layers::KeyRange& range) {
  return {{"start", range.start.ToHex()}, {"end", range.end.ToHex()}};
}

json LsnRangeJson(const layers::LsnRange& range) {
  return {{"start", range.start.ToString()}, {"end", range.end.ToString()}};
}

// "rel 1663/5/16384 blk 0 .. relsize 1663/5/16384": the range in words. The
// end is exclusive, so the last key in it is described when it exists.
std::string DescribeRange(const layers::KeyRange& range) {
  return range.start.Describe() + " .. " + range.end.Describe() + " (exclusive)";
}

char Printable(std::byte b) {
  const auto c = static_cast<unsigned char>(b);
  return (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
}

void PrintHexDumpLine(std::span<const std::byte> line, size_t offset, std::string_view indent) {
  std::string hex;
  std::string text;
  for (size_t i = 0; i < 16; ++i) {
    char cell[4] = "   ";
    if (i < line.size()) {
      std::snprintf(cell, sizeof(cell), "%02x ", static_cast<unsigned>(line[i]));
      text.push_back(Printable(line[i]));
    }
    hex += cell;
  }
  std::printf("%.*s%04zx  %s |%s|\n", static_cast<int>(indent.size()), indent.data(), offset,
              hex.c_str(), text.c_str());
}

}  // namespace

std::string_view KindName(layers::LayerKind kind) {
  return kind == layers::LayerKind::kImage ? "image" : "delta";
}

void PrintField(std::string_view label, std::string_view value) {
  std::printf("%-*.*s %.*s\n", kLabelWidth, static_cast<int>(label.size()), label.data(),
              static_cast<int>(value.size()), value.data());
}

std::string HexBytes(std::span<const std::byte> bytes, size_t max_bytes) {
  std::string out;
  const size_t n = std::min(bytes.size(), max_bytes);
  for (size_t i = 0; i < n; ++i) {
    char cell[4];
    std::snprintf(cell, sizeof(cell), "%02x", static_cast<unsigned>(bytes[i]));
    if (i > 0) out.push_back(' ');
    out += cell;
  }
  if (n < bytes.size()) out += " ...";
  return out;
}

void PrintHexDump(std::span<const std::byte> bytes, size_t max_bytes, std::string_view indent) {
  const size_t n = std::min(bytes.size(), max_bytes);
  for (size_t offset = 0; offset < n; offset += 16) {
    PrintHexDumpLine(bytes.subspan(offset, std::min<size_t>(16, n - offset)), offset, indent);
  }
}

std::string Crc32cHex(std::span<const std::byte> bytes) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08" PRIx32, common::crc32c::Value(bytes));
  return buf;
}

std::string BytesText(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return std::to_string(bytes);
  return std::to_string(bytes) + " (" + Format("%.1f", value) + " " + kUnits[unit] + ")";
}

void PrintSummaryText(const layers::LayerSummary& s) {
  PrintField("kind", KindName(s.kind));
  PrintField("format version", std::to_string(s.format_version));
  PrintField("tenant", s.tenant.ToHex());
  PrintField("timeline", s.timeline.ToHex());
  PrintField("key range", s.key_range.ToString());
  PrintField("", DescribeRange(s.key_range));
  PrintField("lsn range", s.lsn_range.ToString());
  PrintField("compression", layers::CompressionName(s.image_compression));
  PrintField("entries", std::to_string(s.entry_count));
  PrintField("value bytes", BytesText(s.value_bytes));
  PrintField("file length", BytesText(s.file_length));
}

json SummaryJson(const layers::LayerSummary& s) {
  return {{"kind", KindName(s.kind)},
          {"format_version", s.format_version},
          {"tenant", s.tenant.ToHex()},
          {"timeline", s.timeline.ToHex()},
          {"key_range", KeyRangeJson(s.key_range)},
          {"lsn_range", LsnRangeJson(s.lsn_range)},
          {"compression", layers::CompressionName(s.image_compression)},
          {"entry_count", s.entry_count},
          {"value_bytes", s.value_bytes},
          {"value_region_end", s.value_region_end},
          {"index_start_block", s.index_start_block},
          {"file_length", s.file_length}};
}

void PrintStatsText(const layers::LayerStats& st) {
  PrintField("index depth", std::to_string(st.index_depth));
  PrintField("index nodes", std::to_string(st.index_nodes) + " (" + std::to_string(st.leaf_nodes) +
                                (st.leaf_nodes == 1 ? " leaf)" : " leaves)"));
  PrintField("leaf fan-out", Format("%.1f entries/leaf", st.mean_leaf_fanout));
  PrintField("inner fan-out", st.index_depth > 1
                                  ? Format("%.1f children/node", st.mean_inner_fanout)
                                  : std::string("- (no inner nodes)"));
  PrintField("stored value bytes", BytesText(st.stored_value_bytes));
  PrintField("decoded value bytes", BytesText(st.decoded_value_bytes));
  PrintField("compressed values", std::to_string(st.compressed_values) + " of " +
                                      std::to_string(st.summary.entry_count));
  PrintField("compression ratio", Format("%.2f", st.compression_ratio));
}

json StatsJson(const layers::LayerStats& st) {
  return {{"file_bytes", st.file_bytes},
          {"index",
           {{"depth", st.index_depth},
            {"nodes", st.index_nodes},
            {"leaf_nodes", st.leaf_nodes},
            {"mean_leaf_fanout", st.mean_leaf_fanout},
            {"mean_inner_fanout", st.mean_inner_fanout}}},
          {"stored_value_bytes", st.stored_value_bytes},
          {"decoded_value_bytes", st.decoded_value_bytes},
          {"compressed_values", st.compressed_values},
          {"compression_ratio", st.compression_ratio}};
}

void PrintEntryHeader() {
  std::printf("%-36s  %-17s  %-4s  %8s  %s\n", "KEY", "LSN", "INIT", "LENGTH", "DESCRIPTION");
}

void PrintEntryText(const layers::LayerEntry& e) {
  std::printf("%-36s  %-17s  %-4s  %8zu  %s\n", e.key.ToHex().c_str(), e.lsn.ToString().c_str(),
              e.will_init ? "yes" : "no", e.value.size(), e.key.Describe().c_str());
}

json EntryJson(const layers::LayerEntry& e) {
  return {{"key", e.key.ToHex()},
          {"description", e.key.Describe()},
          {"lsn", e.lsn.ToString()},
          {"will_init", e.will_init},
          {"length", e.value.size()}};
}

void PrintVerifyText(const std::string& path, const layers::VerifyReport& r) {
  const std::string checked = std::to_string(r.nodes_checked) + " index nodes, " +
                              std::to_string(r.entries_checked) + " entries, " +
                              std::to_string(r.blobs_checked) + " blobs checked";
  if (r.ok()) {
    std::printf("OK %s: %s\n", path.c_str(), checked.c_str());
    return;
  }
  std::printf("CORRUPT %s: %zu problem%s (%s)\n", path.c_str(), r.problems.size(),
              r.problems.size() == 1 ? "" : "s", checked.c_str());
  for (const std::string& p : r.problems) std::printf("  %s\n", p.c_str());
}

json VerifyJson(const std::string& path, const layers::VerifyReport& r) {
  json out = {{"path", path},
              {"ok", r.ok()},
              {"problems", r.problems},
              {"nodes_checked", r.nodes_checked},
              {"entries_checked", r.entries_checked},
              {"blobs_checked", r.blobs_checked}};
  out["summary"] = r.summary.has_value() ? SummaryJson(*r.summary) : json(nullptr);
  return out;
}

}  // namespace pageserver::pagectl
