#pragma once

// What kind of block a PageCache access is for, so hits and misses can be
// told apart per index structure in the metrics. Only index blocks are
// cached (RFC.md section 6): data blocks always go to disk.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pageserver::page_cache {

enum class BlockKind : uint8_t {
  kLayerSummary,    // the summary block at the start of a layer file
  kImageBtreeNode,  // a node of an image layer's disk B-tree
  kDeltaBtreeNode,  // a node of a delta layer's disk B-tree
};

inline constexpr size_t kNumBlockKinds = 3;

inline constexpr std::array<BlockKind, kNumBlockKinds> kAllBlockKinds = {
    BlockKind::kLayerSummary, BlockKind::kImageBtreeNode, BlockKind::kDeltaBtreeNode};

// The metric label: "layer_summary", "image_btree", "delta_btree".
constexpr std::string_view BlockKindName(BlockKind kind) {
  switch (kind) {
    case BlockKind::kLayerSummary:
      return "layer_summary";
    case BlockKind::kImageBtreeNode:
      return "image_btree";
    case BlockKind::kDeltaBtreeNode:
      return "delta_btree";
  }
  return "unknown";
}

constexpr size_t BlockKindIndex(BlockKind kind) { return static_cast<size_t>(kind); }

}  // namespace pageserver::page_cache
