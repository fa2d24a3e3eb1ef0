#include "layers/layer_verify.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/align.h"
#include "layers/blob.h"
#include "layers/delta_layer.h"
#include "layers/disk_btree.h"
#include "layers/image_layer.h"
#include "layers/layer_file.h"
#include "layers/vectored_read.h"
#include "page_cache/page_cache.h"

namespace pageserver::layers {
namespace {

using common::Result;
using common::Status;
using page_cache::PageCache;
using virtual_file::AlignedBuffer;
using virtual_file::IoBufferMut;
using virtual_file::IoContext;
using virtual_file::OpenOptions;
using virtual_file::VirtualFile;

// A small private cache: a walk pins one node at a time, and sharing the
// daemon's cache would evict hot index blocks for a one-off scan.
constexpr uint64_t kCachePages = 64;
// Value-region reads: the largest blob (1 MiB + header) fits in one window at
// any offset, and a window costs one large sequential read.
constexpr size_t kRegionWindowBytes = size_t{2} << 20;
// A badly damaged file could yield a problem per entry; past this many the
// report says how many more there were instead of listing them.
constexpr size_t kMaxListedProblems = 10000;

std::string BlobText(const BlobRef& ref) {
  return "blob [" + std::to_string(ref.offset) + ", +" + std::to_string(ref.length) + ")";
}

// Block 0 of `file` (fewer bytes when the file is shorter). An error here
// means the file cannot be read, not that it is damaged.
Result<IoBufferMut> ReadBlockZero(const VirtualFile& file) {
  IoBufferMut block = IoBufferMut::Allocate(kLayerBlockSize, file.alignment());
  ASSIGN_OR_RETURN(size_t n, file.ReadAt(0, block.WholeCapacity()));
  block.set_size(n);
  return block;
}

// The summary in block 0; every error means damage.
Result<LayerSummary> DecodeBlockZero(const IoBufferMut& block, const std::string& path) {
  if (block.size() < kLayerBlockSize) {
    return Status::Corruption(path + ": " + std::to_string(block.size()) +
                              " bytes, shorter than the 8192-byte layer summary");
  }
  return DecodeSummary(block.bytes(), path);
}

// Reads the part of a file before `limit` (the index, which the walk reads
// through the cache) front to back through a window of whole aligned chunks,
// so blobs visited in file order cost one large read per window.
class RegionReader {
 public:
  RegionReader(const VirtualFile& file, uint64_t limit) : file_(file), limit_(limit) {}

  // Bytes [offset, offset + length), valid until the next call. Corruption
  // when the file ends before them; IO errors as the file reports them.
  Result<std::span<const std::byte>> Read(uint64_t offset, size_t length) {
    if (!Holds(offset, length)) RETURN_IF_ERROR(Load(offset, length));
    return std::span<const std::byte>(buffer_.data() + (offset - window_offset_), length);
  }

 private:
  bool Holds(uint64_t offset, size_t length) const {
    return offset >= window_offset_ && offset + length <= window_offset_ + window_bytes_;
  }

  Status Load(uint64_t offset, size_t length) {
    const size_t align = file_.alignment();
    const uint64_t start = common::AlignDown(offset, align);
    const uint64_t needed = common::AlignUp(offset + length, align) - start;
    const uint64_t wanted =
        limit_ > start ? std::min<uint64_t>(kRegionWindowBytes, limit_ - start) : 0;
    const uint64_t size = std::max(needed, common::AlignUp(wanted, align));
    if (buffer_.capacity() < size) buffer_ = AlignedBuffer(size, align);
    window_offset_ = start;
    window_bytes_ = 0;
    ASSIGN_OR_RETURN(window_bytes_, file_.ReadAt(start, buffer_.AsSpanMut().First(size)));
    if (Holds(offset, length)) return Status::Ok();
    return Status::Corruption(file_.path() + ": file ends before bytes [" + std::to_string(offset) +
                              ", +" + std::to_string(length) + ") (read " +
                              std::to_string(window_bytes_) + " bytes at " + std::to_string(start) +
                              ")");
  }

  const VirtualFile& file_;
  const uint64_t limit_;
  AlignedBuffer buffer_;
  uint64_t window_offset_ = 0;
  uint64_t window_bytes_ = 0;
};

// What a walk over a layer found.
struct WalkResult {
  uint64_t nodes = 0;  // parsed successfully
  uint64_t leaves = 0;
  uint64_t inner_nodes = 0;
  uint64_t inner_children = 0;
  uint64_t entries = 0;
  uint64_t blobs = 0;  // read and checked
  uint64_t compressed = 0;
  uint64_t stored_payload = 0;
  uint64_t decoded_payload = 0;
  uint64_t node_failures = 0;
  uint64_t blob_failures = 0;
  uint64_t unlisted_problems = 0;
  std::vector<std::string> problems;
};

// Walks a layer's index level by level (root first, each level left to
// right, so the leaf level comes in key order) and the blobs its leaves
// point at, checking everything a reader relies on. Problems are collected,
// never returned: a damaged node only hides its own subtree.
class LayerWalker {
 public:
  // `decode_blobs`: verify every blob's checksum and decode it; otherwise
  // only parse blob headers (for the statistics).
  LayerWalker(const LayerSummary& summary, const DiskBtreeReader& index, const VirtualFile& file,
              bool decode_blobs)
      : summary_(summary),
        index_(index),
        region_(file, summary.index_start_block * kLayerBlockSize),
        decode_blobs_(decode_blobs),
        width_(summary.index_key_width()) {}

  WalkResult Run();

 private:
  // Where a leaf entry is, named only when there is a problem with it.
  struct EntryPos {
    uint64_t block = 0;  // relative
    size_t index = 0;
    std::span<const std::byte> raw_key;
  };
  struct NodeRef {
    uint64_t block = 0;                // relative to index_start_block
    std::vector<std::byte> first_key;  // the parent's separator; empty for the root
  };

  std::vector<NodeRef> WalkLevel(uint8_t level, const std::vector<NodeRef>& nodes);
  void VisitNode(uint8_t level, const NodeRef& ref, std::vector<NodeRef>& children);
  void CheckNodeKeys(const BtreeNode& node, const NodeRef& ref);
  void VisitInner(const BtreeNode& node, std::vector<NodeRef>& children);
  void AddChild(const BtreeNode& node, size_t i, std::vector<NodeRef>& children);
  void VisitLeaf(const BtreeNode& node);
  void VisitEntry(const EntryPos& pos, uint64_t value);
  void CheckEntryRanges(const EntryPos& pos, const Key& key, Lsn lsn);
  bool CheckPlacement(const EntryPos& pos, const BlobRef& ref);
  void CheckBlob(const EntryPos& pos, const BlobRef& ref);
  void CheckHeader(const EntryPos& pos, const BlobRef& ref, const BlobHeader& header);
  bool BlobsLost() const { return result_.node_failures > 0 || bad_refs_ > 0; }
  void CheckTotals();
  void CheckIndexPadding();

  std::string KeyText(std::span<const std::byte> raw) const;
  std::string NodeName(uint64_t block) const;
  std::string Where(const EntryPos& pos) const;
  void Problem(std::string text);

  const LayerSummary& summary_;
  const DiskBtreeReader& index_;
  RegionReader region_;
  const bool decode_blobs_;
  const size_t width_;
  std::vector<std::byte> prev_key_;  // last key of the previous node on this level
  uint64_t prev_blob_end_ = kLayerBlockSize;
  uint64_t bad_refs_ = 0;  // BlobRefs outside the value region
  WalkResult result_;
};

WalkResult LayerWalker::Run() {
  std::vector<NodeRef> level_nodes{NodeRef{summary_.index_root_block, {}}};
  for (int level = static_cast<int>(summary_.index_depth) - 1; level >= 0; --level) {
    level_nodes = WalkLevel(static_cast<uint8_t>(level), level_nodes);
  }
  CheckTotals();
  if (decode_blobs_) CheckIndexPadding();
  if (result_.unlisted_problems > 0) {
    result_.problems.push_back("... and " + std::to_string(result_.unlisted_problems) +
                               " more problems not listed");
  }
  return std::move(result_);
}

std::vector<LayerWalker::NodeRef> LayerWalker::WalkLevel(uint8_t level,
                                                         const std::vector<NodeRef>& nodes) {
  std::vector<NodeRef> children;
  prev_key_.clear();
  for (const NodeRef& ref : nodes) VisitNode(level, ref, children);
  return children;
}

void LayerWalker::VisitNode(uint8_t level, const NodeRef& ref, std::vector<NodeRef>& children) {
  Result<BtreeNode> node = index_.FetchNodeView(ref.block, level);
  if (!node.has_value()) {
    ++result_.node_failures;
    Problem(NodeName(ref.block) + ": " + node.error().ToString());
    return;
  }
  ++result_.nodes;
  CheckNodeKeys(*node, ref);
  if (level == 0) {
    VisitLeaf(*node);
  } else {
    VisitInner(*node, children);
  }
}

// Keys inside a node are ascending (Parse checks); across nodes of a level,
// each node must start where its parent says and above the node before it.
void LayerWalker::CheckNodeKeys(const BtreeNode& node, const NodeRef& ref) {
  if (node.view.count() == 0) return;  // the single leaf of an empty tree
  std::vector<std::byte> first(width_);
  node.view.KeyAt(0, first);
  if (!ref.first_key.empty() && first != ref.first_key) {
    Problem(NodeName(ref.block) + ": first key " + KeyText(first) +
            " differs from its parent's separator " + KeyText(ref.first_key));
  }
  if (!prev_key_.empty() && std::memcmp(first.data(), prev_key_.data(), width_) <= 0) {
    Problem(NodeName(ref.block) + ": first key " + KeyText(first) +
            " is not above the previous node's last key " + KeyText(prev_key_));
  }
  prev_key_.resize(width_);
  node.view.KeyAt(node.view.count() - 1, prev_key_);
}

void LayerWalker::VisitInner(const BtreeNode& node, std::vector<NodeRef>& children) {
  ++result_.inner_nodes;
  result_.inner_children += node.view.count();
  for (size_t i = 0; i < node.view.count(); ++i) AddChild(node, i, children);
}

// A level's nodes are written left to right, so child pointers across the
// level strictly ascend; anything else would visit a node twice.
void LayerWalker::AddChild(const BtreeNode& node, size_t i, std::vector<NodeRef>& children) {
  Result<uint64_t> child = index_.ChildBlock(node, i);
  const std::string where = NodeName(node.block) + " entry " + std::to_string(i);
  if (!child.has_value()) {
    ++result_.node_failures;
    return Problem(where + ": " + child.error().ToString());
  }
  if (!children.empty() && *child <= children.back().block) {
    ++result_.node_failures;
    return Problem(where + ": child pointer " + std::to_string(*child) +
                   " is not after the previous child " + std::to_string(children.back().block));
  }
  NodeRef ref{*child, std::vector<std::byte>(width_)};
  node.view.KeyAt(i, ref.first_key);
  children.push_back(std::move(ref));
}

void LayerWalker::VisitLeaf(const BtreeNode& node) {
  ++result_.leaves;
  std::vector<std::byte> raw(width_);
  for (size_t i = 0; i < node.view.count(); ++i) {
    node.view.KeyAt(i, raw);
    VisitEntry(EntryPos{node.block, i, raw}, node.view.ValueAt(i));
  }
}

void LayerWalker::VisitEntry(const EntryPos& pos, uint64_t value) {
  ++result_.entries;
  Key key;
  Lsn lsn = summary_.lsn_range.start;
  if (summary_.kind == LayerKind::kDelta) {
    DecodeDeltaKey(pos.raw_key, &key, &lsn);
  } else {
    key = Key::Decode(pos.raw_key.first<kKeySize>());
  }
  CheckEntryRanges(pos, key, lsn);
  const BlobRef ref = BlobRef::Unpack(value);
  if (CheckPlacement(pos, ref)) CheckBlob(pos, ref);
}

void LayerWalker::CheckEntryRanges(const EntryPos& pos, const Key& key, Lsn lsn) {
  if (!summary_.key_range.Contains(key)) {
    Problem(Where(pos) + ": key outside the layer's key range " + summary_.key_range.ToString());
  }
  if (!summary_.lsn_range.Contains(lsn)) {
    Problem(Where(pos) + ": LSN " + lsn.ToString() + " outside the layer's LSN range " +
            summary_.lsn_range.ToString());
  }
}

// The BlobRef must lie inside the value region; blobs are back to back in
// index order, so each starts where the one before ended. Returns whether the
// blob can be read.
bool LayerWalker::CheckPlacement(const EntryPos& pos, const BlobRef& ref) {
  if (ref.offset < kLayerBlockSize || ref.length < kBlobHeaderSize ||
      ref.end() > summary_.value_region_end) {
    ++bad_refs_;
    ++result_.blob_failures;
    Problem(Where(pos) + ": " + BlobText(ref) + " is outside the value region [8192, " +
            std::to_string(summary_.value_region_end) + ") or shorter than a blob header");
    return false;
  }
  if (ref.offset < prev_blob_end_) {
    Problem(Where(pos) + ": " + BlobText(ref) + " overlaps the previous blob, which ends at " +
            std::to_string(prev_blob_end_));
  } else if (ref.offset > prev_blob_end_ && !BlobsLost()) {
    // (After a damaged node or BlobRef, a gap is what they hid: not reported again.)
    Problem(Where(pos) + ": bytes [" + std::to_string(prev_blob_end_) + ", " +
            std::to_string(ref.offset) + ") before " + BlobText(ref) + " belong to no index entry");
  }
  prev_blob_end_ = std::max(prev_blob_end_, ref.end());
  return true;
}

void LayerWalker::CheckBlob(const EntryPos& pos, const BlobRef& ref) {
  Result<std::span<const std::byte>> bytes = region_.Read(ref.offset, ref.length);
  const std::span<const std::byte> piece =
      bytes.has_value() ? *bytes : std::span<const std::byte>();
  const BlobPieces pieces(&piece, 1);
  Status status = bytes.status();
  if (status.ok()) {
    ++result_.blobs;
    Result<BlobHeader> header = ReadBlobHeader(pieces);
    status = header.status();
    if (header.has_value()) CheckHeader(pos, ref, *header);
  }
  if (status.ok() && decode_blobs_) status = DecodeBlob(pieces).status();
  if (!status.ok()) {
    ++result_.blob_failures;
    Problem(Where(pos) + ": " + BlobText(ref) + ": " + status.ToString());
  }
}

void LayerWalker::CheckHeader(const EntryPos& pos, const BlobRef& ref, const BlobHeader& header) {
  result_.stored_payload += header.stored_len;
  result_.decoded_payload += header.decoded_len;
  if (header.compressed) ++result_.compressed;
  if (header.will_init != ref.will_init) {
    Problem(Where(pos) + ": " + BlobText(ref) +
            " says will_init=" + (header.will_init ? "1" : "0") + ", its index entry says " +
            (ref.will_init ? "1" : "0"));
  }
  if (header.compressed && summary_.kind == LayerKind::kDelta) {
    Problem(Where(pos) + ": " + BlobText(ref) + " is compressed, but delta values never are");
  }
}

// Totals against the summary. A damaged node hides its entries and a damaged
// blob its size, so each comparison runs only when nothing it counts was lost.
void LayerWalker::CheckTotals() {
  const WalkResult& r = result_;
  if (r.node_failures > 0) return;
  if (r.nodes != summary_.index_node_count) {
    Problem("index: " + std::to_string(r.nodes) + " nodes reachable from the root, summary says " +
            std::to_string(summary_.index_node_count));
  }
  if (r.entries != summary_.entry_count) {
    Problem("index: " + std::to_string(r.entries) + " entries, summary says " +
            std::to_string(summary_.entry_count));
  }
  if (!BlobsLost() && prev_blob_end_ < summary_.value_region_end) {
    Problem("value region: bytes [" + std::to_string(prev_blob_end_) + ", " +
            std::to_string(summary_.value_region_end) + ") belong to no index entry");
  }
  if (r.blob_failures == 0 && r.decoded_payload != summary_.value_bytes) {
    Problem("value region: blobs decode to " + std::to_string(r.decoded_payload) +
            " bytes, summary says " + std::to_string(summary_.value_bytes));
  }
}

// The bytes between the value region and the index must be zero.
void LayerWalker::CheckIndexPadding() {
  const uint64_t begin = summary_.value_region_end;
  const uint64_t end = summary_.index_start_block * kLayerBlockSize;
  if (begin >= end) return;
  Result<std::span<const std::byte>> bytes = region_.Read(begin, end - begin);
  if (!bytes.has_value()) return Problem("padding before the index: " + bytes.error().ToString());
  const auto nonzero =
      std::find_if(bytes->begin(), bytes->end(), [](std::byte b) { return b != std::byte{0}; });
  if (nonzero != bytes->end()) {
    Problem("padding before the index: nonzero byte at offset " +
            std::to_string(begin + (nonzero - bytes->begin())));
  }
}

std::string LayerWalker::KeyText(std::span<const std::byte> raw) const {
  if (summary_.kind == LayerKind::kImage) return Key::Decode(raw.first<kKeySize>()).ToHex();
  Key key;
  Lsn lsn;
  DecodeDeltaKey(raw, &key, &lsn);
  return key.ToHex() + "@" + lsn.ToString();
}

std::string LayerWalker::NodeName(uint64_t block) const {
  return "index block " + std::to_string(summary_.index_start_block + block) + " (node " +
         std::to_string(block) + ")";
}

std::string LayerWalker::Where(const EntryPos& pos) const {
  return NodeName(pos.block) + " entry " + std::to_string(pos.index) + " (key " +
         KeyText(pos.raw_key) + ")";
}

void LayerWalker::Problem(std::string text) {
  if (result_.problems.size() >= kMaxListedProblems) {
    ++result_.unlisted_problems;
    return;
  }
  result_.problems.push_back(std::move(text));
}

LayerStats StatsFrom(const LayerSummary& summary, uint64_t file_bytes, const WalkResult& r) {
  LayerStats s;
  s.summary = summary;
  s.file_bytes = file_bytes;
  s.index_depth = summary.index_depth;
  s.index_nodes = r.nodes;
  s.leaf_nodes = r.leaves;
  if (r.leaves > 0) s.mean_leaf_fanout = double(r.entries) / double(r.leaves);
  if (r.inner_nodes > 0) s.mean_inner_fanout = double(r.inner_children) / double(r.inner_nodes);
  s.stored_value_bytes = summary.value_region_end - kLayerBlockSize;
  s.decoded_value_bytes = summary.value_bytes;
  s.compressed_values = r.compressed;
  if (r.stored_payload > 0) {
    s.compression_ratio = double(r.decoded_payload) / double(r.stored_payload);
  }
  return s;
}

template <typename Reader>
Result<LayerStats> StatsOf(const Reader& reader) {
  ASSIGN_OR_RETURN(uint64_t file_bytes, reader.file().Size());
  WalkResult r =
      LayerWalker(reader.summary(), reader.index(), reader.file(), /*decode_blobs=*/false).Run();
  if (!r.problems.empty()) {
    return Status::Corruption(reader.path() + ": " + r.problems.front() + " (" +
                              std::to_string(r.problems.size()) + " problems; run verify)");
  }
  return StatsFrom(reader.summary(), file_bytes, r);
}

template <typename Reader>
Result<LayerStats> OpenAndComputeStats(const IoContext& ctx, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<PageCache> cache, PageCache::Create({.pages = kCachePages}));
  ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, Reader::Open(ctx, path, cache.get()));
  return StatsOf(*reader);
}

// The checks that need the summary; `report` gets the walk's findings.
Status VerifyWithSummary(const VirtualFile& file, const LayerSummary& summary,
                         VerifyReport& report) {
  ASSIGN_OR_RETURN(uint64_t file_bytes, file.Size());
  Status length = CheckFileLength(summary, file_bytes, file.path());
  if (!length.ok()) report.problems.push_back("file length: " + length.ToString());
  ASSIGN_OR_RETURN(std::unique_ptr<PageCache> cache, PageCache::Create({.pages = kCachePages}));
  const DiskBtreeReader index(
      internal::IndexLocation(summary, file, cache->NewFileId(), cache.get()));
  WalkResult r = LayerWalker(summary, index, file, /*decode_blobs=*/true).Run();
  report.nodes_checked = r.nodes;
  report.entries_checked = r.entries;
  report.blobs_checked = r.blobs;
  for (std::string& p : r.problems) report.problems.push_back(std::move(p));
  return Status::Ok();
}

}  // namespace

Result<LayerKind> PeekLayerKind(const IoContext& ctx, const std::string& path) {
  ASSIGN_OR_RETURN(VirtualFile file, VirtualFile::Open(ctx, path, OpenOptions::Read()));
  ASSIGN_OR_RETURN(IoBufferMut block, ReadBlockZero(file));
  ASSIGN_OR_RETURN(LayerSummary summary, DecodeBlockZero(block, path));
  return summary.kind;
}

Result<LayerStats> ComputeLayerStats(const IoContext& ctx, const std::string& path) {
  ASSIGN_OR_RETURN(LayerKind kind, PeekLayerKind(ctx, path));
  if (kind == LayerKind::kImage) return OpenAndComputeStats<ImageLayerReader>(ctx, path);
  return OpenAndComputeStats<DeltaLayerReader>(ctx, path);
}

Result<VerifyReport> VerifyLayerFile(const IoContext& ctx, const std::string& path) {
  ASSIGN_OR_RETURN(VirtualFile file, VirtualFile::Open(ctx, path, OpenOptions::Read()));
  ASSIGN_OR_RETURN(IoBufferMut block, ReadBlockZero(file));
  VerifyReport report;
  Result<LayerSummary> summary = DecodeBlockZero(block, path);
  if (!summary.has_value()) {
    report.problems.push_back("summary (block 0): " + summary.error().ToString());
    return report;
  }
  report.summary = *summary;
  RETURN_IF_ERROR(VerifyWithSummary(file, *summary, report));
  return report;
}

}  // namespace pageserver::layers
