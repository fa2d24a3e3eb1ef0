#pragma once

// DiskBtree: the index embedded in every layer file, mapping fixed-width
// byte-string keys (compared with memcmp) to u64 values.
//
// Built bottom-up from keys in strictly ascending order: entries fill a leaf
// until the next would not fit, the full leaf is emitted and its first key
// becomes an entry of the level above, and so on up; Finish() emits the
// partial nodes of every level, bottom first, so the root is the last node
// written. Every child therefore has a smaller block number than its parent,
// which the reader checks (a corrupt child pointer cannot loop).
//
// Node layout: one kNodeSize (8192) block, little-endian integers
// (RFC.md "Disk B-tree node"):
//
//   offset  size  field
//   0       4     crc32c of bytes [4, 8192)
//   4       1     magic kNodeMagic (0xB7)
//   5       1     level: 0 for leaves, parent = child + 1, root = depth - 1
//   6       2     entry count n (>= 1, except an empty tree's single leaf)
//   8       1     key width w (every key of the tree has w bytes)
//   9       1     prefix length p: bytes shared by every key in this node
//   10      2     reserved, must be 0
//   12      p     the shared key prefix
//   12 + p  n * (w - p + 8)   entries: key suffix (w - p bytes), then value (u64)
//   ...     rest  zero
//
// In a leaf the value is the caller's (a packed BlobRef in layer files); in an
// inner node entry i holds the first key of child i and the child's block
// number, relative to the tree's first block. Prefix compression: p is the
// common prefix of the node's first and last keys (keys are sorted, so it is
// shared by all). Fan-out (entries per node, floor((8192 - 12 - p) / (w - p + 8))):
// 18-byte keys with a 14-byte shared prefix, 680; 18-byte keys without any
// shared prefix, 314; 26-byte keys without any, 240.
//
// Checksums are verified when a node enters the PageCache (the fill reads and
// verifies; a node that fails is never cached), so a corrupt node is
// Corruption naming the file and block on every access, and a cached node
// costs no checksum per lookup.
//
// Thread-safety: the builder is single-threaded. A DiskBtreeReader is
// immutable and may be shared by any number of threads; each cursor belongs
// to one thread at a time.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "page_cache/page_cache.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::layers {

inline constexpr size_t kNodeSize = 8192;
inline constexpr size_t kNodeHeaderSize = 12;
inline constexpr uint8_t kNodeMagic = 0xB7;
inline constexpr size_t kMaxKeyWidth = 64;
inline constexpr uint32_t kMaxTreeDepth = 16;

// A parsed, checksum-verified view of one node. Borrows the block's bytes.
class BtreeNodeView {
 public:
  // Verifies checksum, magic, key width (must equal `key_width`), prefix
  // length (<= key width), reserved bytes, that the entries fit in the block
  // and that the keys are strictly ascending. Corruption naming `what` (e.g.
  // "<path> block 12") otherwise; InvalidArgument when `key_width` is not in
  // [1, kMaxKeyWidth] or block.size() != kNodeSize.
  static common::Result<BtreeNodeView> Parse(std::span<const std::byte> block, size_t key_width,
                                             std::string_view what);
  // The header checks of Parse only (no checksum, no key order), for a block
  // that passed Parse when it entered the PageCache: nullopt when they fail
  // (then Parse tells why). Allocates nothing.
  static std::optional<BtreeNodeView> ParseVerified(std::span<const std::byte> block,
                                                    size_t key_width);

  uint8_t level() const { return level_; }
  size_t count() const { return count_; }
  size_t key_width() const { return key_width_; }
  size_t prefix_len() const { return prefix_len_; }
  // Writes key i (prefix + suffix) into out. REQUIRES: i < count(), out.size() == key_width().
  void KeyAt(size_t i, std::span<std::byte> out) const;
  uint64_t ValueAt(size_t i) const;
  // Compares key i with `key` (memcmp semantics). REQUIRES: key.size() == key_width().
  int CompareKeyAt(size_t i, std::span<const std::byte> key) const;
  // First i with key_i >= key (count() if none).
  size_t LowerBound(std::span<const std::byte> key) const;
  // Last i with key_i <= key, or nullopt when key < key_0.
  std::optional<size_t> FloorIndex(std::span<const std::byte> key) const;

 private:
  BtreeNodeView() = default;
  // Bytes of one entry: suffix, then value.
  size_t stride() const { return key_width_ - prefix_len_ + 8; }
  const std::byte* entry(size_t i) const {
    return data_ + kNodeHeaderSize + prefix_len_ + i * stride();
  }
  // memcmp of the key's first prefix_len() bytes with the node's prefix.
  int ComparePrefix(std::span<const std::byte> key) const;
  // memcmp of entry i's suffix with the key's bytes past the prefix.
  int CompareSuffixAt(size_t i, std::span<const std::byte> key) const;
  // Whether every suffix is greater than the one before.
  bool SuffixesAscending() const;

  const std::byte* data_ = nullptr;
  uint8_t level_ = 0;
  size_t count_ = 0;
  size_t key_width_ = 0;
  size_t prefix_len_ = 0;
};

// Destination of the builder's nodes, called once per node in block order
// (block 0 first). The span is kNodeSize bytes, valid during the call.
class BtreeNodeSink {
 public:
  virtual ~BtreeNodeSink() = default;
  virtual common::Status AppendNode(std::span<const std::byte> node) = 0;
};

struct BtreeShape {
  uint64_t root_block = 0;  // relative to the tree's first block; == node_count - 1
  uint64_t node_count = 0;
  uint32_t depth = 0;  // levels; 1 for a tree that is a single leaf
  uint64_t entry_count = 0;
};

class DiskBtreeBuilder {
 public:
  // REQUIRES: 1 <= key_width <= kMaxKeyWidth; sink outlives the builder.
  DiskBtreeBuilder(size_t key_width, BtreeNodeSink* sink);
  ~DiskBtreeBuilder();
  DiskBtreeBuilder(const DiskBtreeBuilder&) = delete;
  DiskBtreeBuilder& operator=(const DiskBtreeBuilder&) = delete;

  // InvalidArgument when key.size() != key_width or key <= the previous key;
  // nothing is added then. Errors from the sink are returned as they are,
  // and then again by every later Append and Finish (the tree is lost).
  common::Status Append(std::span<const std::byte> key, uint64_t value);
  // Emits the remaining nodes (an empty tree is one empty leaf). Once only:
  // InvalidArgument on a second call or an Append after it.
  common::Result<BtreeShape> Finish();
  uint64_t entry_count() const;

 private:
  struct Level;
  common::Status CheckAppend(std::span<const std::byte> key) const;
  common::Status AddToLevel(size_t level, std::span<const std::byte> key, uint64_t value);
  // Encodes the pending node of `level`, hands it to the sink and, unless it
  // is the root, adds its first key to the level above.
  common::Status EmitNode(size_t level, bool is_root);
  common::Status Fail(common::Status status);
  size_t key_width_;
  BtreeNodeSink* sink_;
  std::vector<std::unique_ptr<Level>> levels_;
  std::vector<std::byte> last_key_;
  std::vector<std::byte> node_;  // kNodeSize bytes: the node being encoded
  common::Status sink_error_;    // the first sink error; OK until one
  uint64_t entries_ = 0;
  uint64_t next_block_ = 0;
  bool finished_ = false;
};

// Where a tree lives and how to read it.
struct BtreeLocation {
  page_cache::PageCache* cache = nullptr;
  page_cache::FileId file_id;
  const virtual_file::VirtualFile* file = nullptr;
  page_cache::BlockKind kind = page_cache::BlockKind::kImageBtreeNode;
  uint64_t first_block = 0;  // absolute block number (offset / kNodeSize) of relative block 0
  BtreeShape shape;
  size_t key_width = 0;
};

class DiskBtreeCursor;

// A pinned node: the page and a view of its bytes (valid while `page` lives).
struct BtreeNode {
  page_cache::PageGuard page;
  BtreeNodeView view;
  uint64_t block = 0;  // relative
};

class DiskBtreeReader {
 public:
  // REQUIRES: cache, file non-null and outliving the reader; shape.depth in
  // [1, kMaxTreeDepth]; root_block < node_count.
  explicit DiskBtreeReader(const BtreeLocation& location);

  // The value of `key`, nullopt when absent. Corruption/IO errors as described above.
  common::Result<std::optional<uint64_t>> Get(std::span<const std::byte> key) const;
  DiskBtreeCursor NewCursor() const;
  const BtreeLocation& location() const { return loc_; }

  // Fetches relative block `block` through the PageCache (verifying on fill)
  // and checks it is at `level`. Used by cursors and by layer verification.
  // Corruption naming the file path and absolute block when the block is
  // past the tree, short, fails Parse, is at another level, or is an empty
  // inner node (or an empty leaf of a tree with more than one node).
  common::Result<page_cache::PageGuard> FetchNode(uint64_t block, uint8_t level) const;
  // As FetchNode, with the parsed view (no checksum recomputed on a hit).
  common::Result<BtreeNode> FetchNodeView(uint64_t block, uint8_t level) const;
  // The child block entry `i` of inner node `parent` points to; Corruption
  // unless it is below the parent's block (so descents always terminate).
  common::Result<uint64_t> ChildBlock(const BtreeNode& parent, size_t i) const;
  // "<path> block <absolute block>", for error messages.
  std::string Where(uint64_t block) const;
  // The root's level (shape.depth - 1); Corruption when the depth is not in
  // [1, kMaxTreeDepth].
  common::Result<uint8_t> RootLevel() const;

 private:
  common::Status FillNode(uint64_t block, virtual_file::AlignedSpanMut dst) const;
  common::Status CheckNode(const BtreeNodeView& view, uint64_t block, uint8_t level) const;
  common::Result<BtreeNodeView> ViewCached(const page_cache::PageGuard& page, uint64_t block) const;

  BtreeLocation loc_;
};

// A position in the tree's entries, moving forward or backward. Holds a pin on
// one node per level while valid (depth pins), so keep cursors short-lived.
// After an error the cursor is invalid and status() returns the error.
class DiskBtreeCursor {
 public:
  explicit DiskBtreeCursor(const DiskBtreeReader* reader);
  DiskBtreeCursor(DiskBtreeCursor&&) noexcept;
  DiskBtreeCursor& operator=(DiskBtreeCursor&&) noexcept;
  ~DiskBtreeCursor();

  // Position at the first entry with key >= `key` (invalid when none).
  common::Status SeekGE(std::span<const std::byte> key);
  // Position at the last entry with key <= `key` (invalid when none).
  common::Status SeekLE(std::span<const std::byte> key);
  common::Status SeekFirst();
  common::Status SeekLast();
  common::Status Next();  // REQUIRES: valid()
  common::Status Prev();  // REQUIRES: valid()

  bool valid() const;
  // The current key (key_width bytes, owned by the cursor, valid until it moves).
  std::span<const std::byte> key() const;
  uint64_t value() const;
  common::Status status() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace pageserver::layers
