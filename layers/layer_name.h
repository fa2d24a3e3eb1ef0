#pragma once

// Layer file names, as Neon's:
//   image  <keystart>-<keyend>__<lsn>
//   delta  <keystart>-<keyend>__<lsnstart>-<lsnend>
// with keys in Key::ToHex form (36 digits) and LSNs in Lsn::ToFileHex form
// (16 digits). An image layer at `lsn` covers LsnRange [lsn, lsn + 1).
//
//   LayerName::Image({a, b}, Lsn{0x10}).ToString()
//     == "<a hex>-<b hex>__0000000000000010"
//
// Temporary files (a writer's output before its rename, and its index spill
// file) end in kTemporarySuffix; RemoveTemporaryLayerFiles() deletes them
// when a timeline directory is loaded, so a crash mid-write leaves nothing a
// reader could mistake for a layer.
//
// Thread-safety: plain values and pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layers/keyspace.h"
#include "layers/lsn.h"

namespace pageserver::layers {

enum class LayerKind : uint8_t { kImage, kDelta };

inline constexpr std::string_view kTemporarySuffix = ".___temp";

struct LayerName {
  LayerKind kind = LayerKind::kImage;
  KeyRange key_range;
  LsnRange lsn_range;  // image: [lsn, lsn + 1)

  // REQUIRES: lsn != Lsn::Max() (its range [lsn, lsn + 1) would wrap).
  static LayerName Image(const KeyRange& keys, Lsn lsn);
  static LayerName Delta(const KeyRange& keys, const LsnRange& lsns);

  std::string ToString() const;
  // InvalidArgument naming the text for anything that is not exactly one of
  // the two forms (including empty key or LSN ranges).
  static common::Result<LayerName> Parse(std::string_view file_name);
  auto operator<=>(const LayerName&) const = default;
};

// True when the name ends in kTemporarySuffix ("x.___temp", "x.index.___temp").
bool IsTemporaryLayerFileName(std::string_view file_name);

// Deletes every file in `dir` whose name IsTemporaryLayerFileName, then
// fsyncs the directory if anything was removed. Returns the names removed,
// sorted. Directories with such names are left alone; a file that vanishes
// meanwhile counts as removed. Errors: NotFound when `dir` is missing, else
// what opendir/unlink/fsync report, naming the path. Not thread-safe against
// writers in the same directory (call it before any writer starts).
common::Result<std::vector<std::string>> RemoveTemporaryLayerFiles(const std::string& dir);

}  // namespace pageserver::layers
