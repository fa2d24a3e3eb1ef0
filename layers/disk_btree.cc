#include "layers/disk_btree.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <utility>

#include "common/crc32c.h"

namespace pageserver::layers {

using common::Result;
using common::Status;
using page_cache::PageGuard;

static_assert(kNodeSize == page_cache::kPageSize, "a B-tree node is one PageCache page");
// Any entry count that fits a node fits the u16 count field (an entry is at
// least its 8-byte value).
static_assert((kNodeSize - kNodeHeaderSize) / 8 <= std::numeric_limits<uint16_t>::max());

namespace {

constexpr size_t kCrcOffset = 0;
constexpr size_t kMagicOffset = 4;
constexpr size_t kLevelOffset = 5;
constexpr size_t kCountOffset = 6;
constexpr size_t kKeyWidthOffset = 8;
constexpr size_t kPrefixLenOffset = 9;
constexpr size_t kReservedOffset = 10;
constexpr size_t kValueSize = 8;

// Index of "before the first entry" in a leaf; also what count - 1 is for an
// empty leaf, so "index >= count" means "not on an entry" either way.
constexpr size_t kBeforeFirst = std::numeric_limits<size_t>::max();

uint64_t LoadLe(const std::byte* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | std::to_integer<uint64_t>(p[i]);
  return v;
}

void StoreLe(std::byte* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i, v >>= 8) p[i] = static_cast<std::byte>(v & 0xff);
}

uint32_t NodeCrc(std::span<const std::byte> block) {
  return common::crc32c::Value(block.subspan(kMagicOffset));
}

// Bytes a node with `count` entries and a prefix of `p` bytes needs.
size_t NodeBytes(size_t count, size_t key_width, size_t p) {
  return kNodeHeaderSize + p + count * (key_width - p + kValueSize);
}

size_t CommonPrefix(const std::byte* a, const std::byte* b, size_t n) {
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// memcmp order for the short keys of a node (at most kMaxKeyWidth bytes),
// inlined eight bytes at a time: a libc memcmp call per binary-search probe
// was half the time of a warm lookup (BENCHMARKS.md "Layer files").
inline int CompareShort(const std::byte* a, const std::byte* b, size_t n) {
  static_assert(std::endian::native == std::endian::little, "byte-swapped loads below");
  for (; n >= 8; a += 8, b += 8, n -= 8) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  for (; n > 0; ++a, ++b, --n) {
    if (*a != *b) return *a < *b ? -1 : 1;
  }
  return 0;
}

int CompareKeys(std::span<const std::byte> a, std::span<const std::byte> b) {
  return std::memcmp(a.data(), b.data(), a.size());
}

// Why `block` is not a node of `key_width`-byte keys by its header, or
// nullptr when the header is consistent. The checksum is not looked at.
const char* HeaderProblem(std::span<const std::byte> block, size_t key_width) {
  const std::byte* d = block.data();
  if (d[kMagicOffset] != std::byte{kNodeMagic}) return "bad magic";
  if (std::to_integer<size_t>(d[kKeyWidthOffset]) != key_width) return "wrong key width";
  const size_t p = std::to_integer<size_t>(d[kPrefixLenOffset]);
  if (p > key_width) return "prefix longer than the key width";
  if (LoadLe(d + kReservedOffset, 2) != 0) return "reserved bytes not zero";
  const size_t count = LoadLe(d + kCountOffset, 2);
  if (NodeBytes(count, key_width, p) > kNodeSize) return "entry count does not fit the node";
  return nullptr;
}

bool ValidKeyWidth(size_t key_width) { return key_width >= 1 && key_width <= kMaxKeyWidth; }

}  // namespace

// ---------------------------------------------------------------------------
// BtreeNodeView

std::optional<BtreeNodeView> BtreeNodeView::ParseVerified(std::span<const std::byte> block,
                                                          size_t key_width) {
  if (block.size() != kNodeSize || !ValidKeyWidth(key_width)) return std::nullopt;
  if (HeaderProblem(block, key_width) != nullptr) return std::nullopt;
  BtreeNodeView view;
  view.data_ = block.data();
  view.level_ = std::to_integer<uint8_t>(block[kLevelOffset]);
  view.count_ = LoadLe(block.data() + kCountOffset, 2);
  view.key_width_ = key_width;
  view.prefix_len_ = std::to_integer<size_t>(block[kPrefixLenOffset]);
  return view;
}

Result<BtreeNodeView> BtreeNodeView::Parse(std::span<const std::byte> block, size_t key_width,
                                           std::string_view what) {
  const std::string where = std::string(what) + ": B-tree node: ";
  if (block.size() != kNodeSize || !ValidKeyWidth(key_width)) {
    return Status::InvalidArgument(where + "block of " + std::to_string(block.size()) +
                                   " bytes, key width " + std::to_string(key_width));
  }
  const auto stored = static_cast<uint32_t>(LoadLe(block.data() + kCrcOffset, 4));
  const uint32_t computed = NodeCrc(block);
  if (stored != computed) {
    return Status::Corruption(where + "checksum mismatch (stored " + std::to_string(stored) +
                              ", computed " + std::to_string(computed) + ")");
  }
  if (const char* problem = HeaderProblem(block, key_width)) {
    return Status::Corruption(where + problem);
  }
  const BtreeNodeView view = *ParseVerified(block, key_width);
  if (!view.SuffixesAscending()) return Status::Corruption(where + "keys not strictly ascending");
  return view;
}

bool BtreeNodeView::SuffixesAscending() const {
  const size_t suffix = key_width_ - prefix_len_;
  for (size_t i = 1; i < count_; ++i) {
    if (std::memcmp(entry(i - 1), entry(i), suffix) >= 0) return false;
  }
  return true;
}

void BtreeNodeView::KeyAt(size_t i, std::span<std::byte> out) const {
  std::memcpy(out.data(), data_ + kNodeHeaderSize, prefix_len_);
  std::memcpy(out.data() + prefix_len_, entry(i), key_width_ - prefix_len_);
}

uint64_t BtreeNodeView::ValueAt(size_t i) const {
  return LoadLe(entry(i) + key_width_ - prefix_len_, kValueSize);
}

int BtreeNodeView::ComparePrefix(std::span<const std::byte> key) const {
  return CompareShort(data_ + kNodeHeaderSize, key.data(), prefix_len_);
}

int BtreeNodeView::CompareSuffixAt(size_t i, std::span<const std::byte> key) const {
  return CompareShort(entry(i), key.data() + prefix_len_, key_width_ - prefix_len_);
}

int BtreeNodeView::CompareKeyAt(size_t i, std::span<const std::byte> key) const {
  const int c = ComparePrefix(key);
  return c != 0 ? c : CompareSuffixAt(i, key);
}

size_t BtreeNodeView::LowerBound(std::span<const std::byte> key) const {
  const int c = ComparePrefix(key);
  if (c != 0) return c > 0 ? 0 : count_;
  size_t lo = 0;
  size_t hi = count_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (CompareSuffixAt(mid, key) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

std::optional<size_t> BtreeNodeView::FloorIndex(std::span<const std::byte> key) const {
  const int c = ComparePrefix(key);
  size_t upper = c > 0 ? 0 : count_;  // first i with key_i > key
  if (c == 0) {
    size_t lo = 0;
    while (lo < upper) {
      const size_t mid = lo + (upper - lo) / 2;
      if (CompareSuffixAt(mid, key) <= 0) {
        lo = mid + 1;
      } else {
        upper = mid;
      }
    }
  }
  if (upper == 0) return std::nullopt;
  return upper - 1;
}

// ---------------------------------------------------------------------------
// DiskBtreeBuilder

// The pending (not yet emitted) node of one level.
struct DiskBtreeBuilder::Level {
  std::vector<std::byte> keys;  // count() keys of key_width bytes
  std::vector<uint64_t> values;

  size_t count() const { return values.size(); }
  const std::byte* key(size_t i, size_t width) const { return keys.data() + i * width; }
};

DiskBtreeBuilder::DiskBtreeBuilder(size_t key_width, BtreeNodeSink* sink)
    : key_width_(key_width), sink_(sink), node_(kNodeSize) {}

DiskBtreeBuilder::~DiskBtreeBuilder() = default;

uint64_t DiskBtreeBuilder::entry_count() const { return entries_; }

Status DiskBtreeBuilder::CheckAppend(std::span<const std::byte> key) const {
  if (!sink_error_.ok()) return sink_error_;
  if (finished_) return Status::InvalidArgument("disk B-tree: Append after Finish");
  if (!ValidKeyWidth(key_width_) || key.size() != key_width_) {
    return Status::InvalidArgument("disk B-tree: key of " + std::to_string(key.size()) +
                                   " bytes, the tree's keys have " + std::to_string(key_width_));
  }
  if (entries_ > 0 && CompareKeys(key, last_key_) <= 0) {
    return Status::InvalidArgument("disk B-tree: key " + std::to_string(entries_) +
                                   " is not above the previous key");
  }
  return Status::Ok();
}

Status DiskBtreeBuilder::Append(std::span<const std::byte> key, uint64_t value) {
  RETURN_IF_ERROR(CheckAppend(key));
  last_key_.assign(key.begin(), key.end());
  ++entries_;
  return AddToLevel(0, key, value);
}

Status DiskBtreeBuilder::AddToLevel(size_t level, std::span<const std::byte> key, uint64_t value) {
  if (level == levels_.size()) {
    if (level == kMaxTreeDepth) return Fail(Status::Internal("disk B-tree: too many levels"));
    levels_.push_back(std::make_unique<Level>());
  }
  Level& lv = *levels_[level];
  if (lv.count() > 0) {
    // The grown node's prefix is what its first key shares with `key`, which
    // may be shorter than the current one: capacity can shrink.
    const size_t p = CommonPrefix(lv.key(0, key_width_), key.data(), key_width_);
    if (NodeBytes(lv.count() + 1, key_width_, p) > kNodeSize) {
      RETURN_IF_ERROR(EmitNode(level, /*is_root=*/false));
    }
  }
  lv.keys.insert(lv.keys.end(), key.begin(), key.end());
  lv.values.push_back(value);
  return Status::Ok();
}

namespace {

// Encodes `count` entries (keys packed at `keys`) into `node` (kNodeSize).
void EncodeNode(std::span<std::byte> node, uint8_t level, size_t key_width, const std::byte* keys,
                std::span<const uint64_t> values) {
  const size_t count = values.size();
  const size_t p = count == 0 ? 0 : CommonPrefix(keys, keys + (count - 1) * key_width, key_width);
  std::fill(node.begin(), node.end(), std::byte{0});
  node[kMagicOffset] = std::byte{kNodeMagic};
  node[kLevelOffset] = static_cast<std::byte>(level);
  StoreLe(node.data() + kCountOffset, count, 2);
  node[kKeyWidthOffset] = static_cast<std::byte>(key_width);
  node[kPrefixLenOffset] = static_cast<std::byte>(p);
  std::byte* out = node.data() + kNodeHeaderSize;
  if (count > 0) std::memcpy(out, keys, p);
  out += p;
  for (size_t i = 0; i < count; ++i) {
    std::memcpy(out, keys + i * key_width + p, key_width - p);
    out += key_width - p;
    StoreLe(out, values[i], kValueSize);
    out += kValueSize;
  }
  StoreLe(node.data() + kCrcOffset, NodeCrc(node), 4);
}

}  // namespace

Status DiskBtreeBuilder::EmitNode(size_t level, bool is_root) {
  Level& lv = *levels_[level];
  EncodeNode(node_, static_cast<uint8_t>(level), key_width_, lv.keys.data(), lv.values);
  Status appended = sink_->AppendNode(node_);
  if (!appended.ok()) return Fail(std::move(appended));
  const uint64_t block = next_block_++;
  if (!is_root) {
    // lv's keys stay put while the level above changes: levels are separately allocated.
    RETURN_IF_ERROR(AddToLevel(level + 1, {lv.keys.data(), key_width_}, block));
  }
  lv.keys.clear();
  lv.values.clear();
  return Status::Ok();
}

Status DiskBtreeBuilder::Fail(Status status) {
  if (sink_error_.ok()) sink_error_ = status;
  return status;
}

Result<BtreeShape> DiskBtreeBuilder::Finish() {
  if (!sink_error_.ok()) return sink_error_;
  if (finished_) return Status::InvalidArgument("disk B-tree: Finish called twice");
  if (!ValidKeyWidth(key_width_)) {
    return Status::InvalidArgument("disk B-tree: key width " + std::to_string(key_width_));
  }
  finished_ = true;
  if (levels_.empty()) levels_.push_back(std::make_unique<Level>());  // the empty leaf
  // Emitting a level's node adds an entry to the level above (possibly
  // emitting there too), so the top level is only known when we reach it.
  for (size_t level = 0; level < levels_.size(); ++level) {
    RETURN_IF_ERROR(EmitNode(level, /*is_root=*/level + 1 == levels_.size()));
  }
  return BtreeShape{.root_block = next_block_ - 1,
                    .node_count = next_block_,
                    .depth = static_cast<uint32_t>(levels_.size()),
                    .entry_count = entries_};
}

// ---------------------------------------------------------------------------
// DiskBtreeReader

DiskBtreeReader::DiskBtreeReader(const BtreeLocation& location) : loc_(location) {}

std::string DiskBtreeReader::Where(uint64_t block) const {
  return loc_.file->path() + " block " + std::to_string(loc_.first_block + block);
}

Result<uint8_t> DiskBtreeReader::RootLevel() const {
  const uint32_t depth = loc_.shape.depth;
  if (depth == 0 || depth > kMaxTreeDepth) {
    return Status::Corruption(loc_.file->path() + ": B-tree depth " + std::to_string(depth) +
                              " out of range");
  }
  return static_cast<uint8_t>(depth - 1);
}

Status DiskBtreeReader::FillNode(uint64_t block, virtual_file::AlignedSpanMut dst) const {
  const uint64_t offset = (loc_.first_block + block) * kNodeSize;
  Result<size_t> n = loc_.file->ReadAt(offset, dst);
  if (!n.has_value()) return n.error().WithContext("B-tree node " + Where(block));
  if (*n != kNodeSize) {
    return Status::Corruption(Where(block) + ": B-tree node is short: " + std::to_string(*n) +
                              " of " + std::to_string(kNodeSize) + " bytes (truncated file?)");
  }
  return Status(BtreeNodeView::Parse(dst.span(), loc_.key_width, Where(block)).status());
}

Result<BtreeNodeView> DiskBtreeReader::ViewCached(const PageGuard& page, uint64_t block) const {
  if (auto view = BtreeNodeView::ParseVerified(page.data(), loc_.key_width)) return *view;
  // Only when another reader cached this block with other expectations.
  Result<BtreeNodeView> parsed = BtreeNodeView::Parse(page.data(), loc_.key_width, Where(block));
  if (!parsed.has_value()) return std::move(parsed).error();
  return Status::Corruption(Where(block) + ": cached B-tree node fails its header checks");
}

Status DiskBtreeReader::CheckNode(const BtreeNodeView& view, uint64_t block, uint8_t level) const {
  if (view.level() != level) {
    return Status::Corruption(Where(block) + ": B-tree node at level " +
                              std::to_string(view.level()) + ", expected " + std::to_string(level));
  }
  if (view.count() == 0 && (level > 0 || loc_.shape.node_count > 1)) {
    return Status::Corruption(Where(block) + ": empty B-tree node in a non-empty tree");
  }
  return Status::Ok();
}

Result<BtreeNode> DiskBtreeReader::FetchNodeView(uint64_t block, uint8_t level) const {
  constexpr uint64_t kMaxBlock = std::numeric_limits<uint64_t>::max() / kNodeSize;
  if (block >= loc_.shape.node_count || loc_.first_block > kMaxBlock - block) {
    return Status::Corruption(Where(block) + ": B-tree block " + std::to_string(block) +
                              " is outside the tree's " + std::to_string(loc_.shape.node_count) +
                              " nodes");
  }
  auto fill = [this, block](virtual_file::AlignedSpanMut dst) { return FillNode(block, dst); };
  ASSIGN_OR_RETURN(PageGuard page,
                   loc_.cache->Read(loc_.file_id, loc_.first_block + block, loc_.kind, fill));
  ASSIGN_OR_RETURN(const BtreeNodeView view, ViewCached(page, block));
  RETURN_IF_ERROR(CheckNode(view, block, level));
  return BtreeNode{std::move(page), view, block};
}

Result<PageGuard> DiskBtreeReader::FetchNode(uint64_t block, uint8_t level) const {
  ASSIGN_OR_RETURN(BtreeNode node, FetchNodeView(block, level));
  return std::move(node.page);
}

Result<uint64_t> DiskBtreeReader::ChildBlock(const BtreeNode& parent, size_t i) const {
  const uint64_t child = parent.view.ValueAt(i);
  if (child >= parent.block) {
    return Status::Corruption(Where(parent.block) + ": entry " + std::to_string(i) +
                              " points to relative block " + std::to_string(child) +
                              ", not below the node's " + std::to_string(parent.block));
  }
  return child;
}

Result<std::optional<uint64_t>> DiskBtreeReader::Get(std::span<const std::byte> key) const {
  if (key.size() != loc_.key_width) {
    return Status::InvalidArgument("disk B-tree Get: key of " + std::to_string(key.size()) +
                                   " bytes in " + loc_.file->path());
  }
  ASSIGN_OR_RETURN(uint8_t level, RootLevel());
  uint64_t block = loc_.shape.root_block;
  for (;;) {
    ASSIGN_OR_RETURN(const BtreeNode node, FetchNodeView(block, level));
    const std::optional<size_t> i = node.view.FloorIndex(key);
    if (!i.has_value()) return std::optional<uint64_t>();
    if (level == 0) {
      if (node.view.CompareKeyAt(*i, key) != 0) return std::optional<uint64_t>();
      return std::optional<uint64_t>(node.view.ValueAt(*i));
    }
    ASSIGN_OR_RETURN(block, ChildBlock(node, *i));
    --level;
  }
}

DiskBtreeCursor DiskBtreeReader::NewCursor() const { return DiskBtreeCursor(this); }

// ---------------------------------------------------------------------------
// DiskBtreeCursor

// The path from the root to the current leaf entry; empty when invalid.
struct DiskBtreeCursor::State {
  struct Frame {
    BtreeNode node;
    size_t index;
  };

  explicit State(const DiskBtreeReader* r) : reader(r) { path.reserve(kMaxTreeDepth); }

  Frame& leaf() { return path.back(); }
  const Frame& leaf() const { return path.back(); }
  size_t key_width() const { return reader->location().key_width; }

  Status Reset(std::span<const std::byte> key);
  template <typename Pick>
  Status Descend(uint64_t block, uint8_t level, Pick pick);
  template <typename Pick>
  Status DescendFromRoot(Pick pick);
  Status StepLeaf(bool forward);
  Status Settle(bool forward);
  Status Finish(Status status);

  const DiskBtreeReader* reader;
  std::vector<Frame> path;
  std::array<std::byte, kMaxKeyWidth> key{};
  Status status;
};

// Releases the pins before any new fetch (a small cache may need the slots).
Status DiskBtreeCursor::State::Reset(std::span<const std::byte> seek_key) {
  path.clear();
  status = Status::Ok();
  if (seek_key.size() != key_width()) {
    return Status::InvalidArgument("disk B-tree cursor: key of " + std::to_string(seek_key.size()) +
                                   " bytes in " + reader->location().file->path());
  }
  return Status::Ok();
}

// Pushes frames from `block` at `level` down to a leaf; pick(view, is_leaf)
// chooses the entry in each node (for an inner node, one < count()).
template <typename Pick>
Status DiskBtreeCursor::State::Descend(uint64_t block, uint8_t level, Pick pick) {
  for (;;) {
    ASSIGN_OR_RETURN(BtreeNode node, reader->FetchNodeView(block, level));
    const size_t index = pick(node.view, level == 0);
    path.push_back(Frame{std::move(node), index});
    if (level == 0) return Status::Ok();
    ASSIGN_OR_RETURN(block, reader->ChildBlock(path.back().node, index));
    --level;
  }
}

template <typename Pick>
Status DiskBtreeCursor::State::DescendFromRoot(Pick pick) {
  ASSIGN_OR_RETURN(const uint8_t level, reader->RootLevel());
  return Descend(reader->location().shape.root_block, level, pick);
}

// Moves to the first (forward) or last entry of the adjacent leaf; clears
// the path at either end of the tree.
Status DiskBtreeCursor::State::StepLeaf(bool forward) {
  path.pop_back();
  while (!path.empty()) {
    Frame& f = path.back();
    if (forward ? f.index + 1 < f.node.view.count() : f.index > 0) break;
    path.pop_back();
  }
  if (path.empty()) return Status::Ok();
  Frame& parent = path.back();
  parent.index = forward ? parent.index + 1 : parent.index - 1;
  ASSIGN_OR_RETURN(const uint64_t child, reader->ChildBlock(parent.node, parent.index));
  const auto pick = [forward](const BtreeNodeView& v, bool) { return forward ? 0 : v.count() - 1; };
  return Descend(child, static_cast<uint8_t>(parent.node.view.level() - 1), pick);
}

// From a leaf index that may be off its entries (past the end, or before the
// first), moves in the given direction to the nearest entry.
Status DiskBtreeCursor::State::Settle(bool forward) {
  while (!path.empty() && leaf().index >= leaf().node.view.count()) {
    RETURN_IF_ERROR(StepLeaf(forward));
  }
  if (!path.empty()) leaf().node.view.KeyAt(leaf().index, {key.data(), key_width()});
  return Status::Ok();
}

// Records the outcome of a move: an error leaves the cursor invalid.
Status DiskBtreeCursor::State::Finish(Status s) {
  if (!s.ok()) {
    path.clear();
    status = s;
  }
  return s;
}

DiskBtreeCursor::DiskBtreeCursor(const DiskBtreeReader* reader)
    : state_(std::make_unique<State>(reader)) {}
DiskBtreeCursor::DiskBtreeCursor(DiskBtreeCursor&&) noexcept = default;
DiskBtreeCursor& DiskBtreeCursor::operator=(DiskBtreeCursor&&) noexcept = default;
DiskBtreeCursor::~DiskBtreeCursor() = default;

Status DiskBtreeCursor::SeekGE(std::span<const std::byte> key) {
  Status s = state_->Reset(key);
  if (s.ok()) {
    s = state_->DescendFromRoot([key](const BtreeNodeView& v, bool leaf) {
      return leaf ? v.LowerBound(key) : v.FloorIndex(key).value_or(0);
    });
  }
  if (s.ok()) s = state_->Settle(/*forward=*/true);
  return state_->Finish(std::move(s));
}

Status DiskBtreeCursor::SeekLE(std::span<const std::byte> key) {
  Status s = state_->Reset(key);
  if (s.ok()) {
    s = state_->DescendFromRoot([key](const BtreeNodeView& v, bool leaf) {
      return v.FloorIndex(key).value_or(leaf ? kBeforeFirst : 0);
    });
  }
  if (s.ok()) s = state_->Settle(/*forward=*/false);
  return state_->Finish(std::move(s));
}

Status DiskBtreeCursor::SeekFirst() {
  state_->path.clear();
  state_->status = Status::Ok();
  Status s = state_->DescendFromRoot([](const BtreeNodeView&, bool) { return size_t{0}; });
  if (s.ok()) s = state_->Settle(/*forward=*/true);
  return state_->Finish(std::move(s));
}

Status DiskBtreeCursor::SeekLast() {
  state_->path.clear();
  state_->status = Status::Ok();
  // count() - 1 of an empty leaf is kBeforeFirst: Settle moves back from it.
  Status s = state_->DescendFromRoot([](const BtreeNodeView& v, bool) { return v.count() - 1; });
  if (s.ok()) s = state_->Settle(/*forward=*/false);
  return state_->Finish(std::move(s));
}

Status DiskBtreeCursor::Next() {
  if (!valid()) return Status::InvalidArgument("disk B-tree cursor: Next on an invalid cursor");
  ++state_->leaf().index;
  return state_->Finish(state_->Settle(/*forward=*/true));
}

Status DiskBtreeCursor::Prev() {
  if (!valid()) return Status::InvalidArgument("disk B-tree cursor: Prev on an invalid cursor");
  --state_->leaf().index;  // 0 wraps to kBeforeFirst
  return state_->Finish(state_->Settle(/*forward=*/false));
}

bool DiskBtreeCursor::valid() const { return state_ != nullptr && !state_->path.empty(); }

std::span<const std::byte> DiskBtreeCursor::key() const {
  return {state_->key.data(), state_->key_width()};
}

uint64_t DiskBtreeCursor::value() const {
  const State::Frame& leaf = state_->leaf();
  return leaf.node.view.ValueAt(leaf.index);
}

Status DiskBtreeCursor::status() const { return state_ ? state_->status : Status::Ok(); }

}  // namespace pageserver::layers
