// DiskBtree: node format and fan-out, builder argument checks and tree shape,
// model-based randomized tests against std::map (point lookups, seeks of
// present and absent keys, full scans both ways, ranges, mixed Next/Prev
// walks) over key shapes that stress prefix compression and over trees of
// 0, 1, thousands and hundreds of thousands of entries, and corruption:
// every byte of every node flipped, truncated files, child pointers that
// do not point below their parent, corrupt nodes never cached. Trees are
// written at block 3 of their file so relative addressing is exercised.
// Every test that reads a tree from a file runs under every engine x io mode.
// Randomized tests print their seed to stderr when they start (TestSeed);
// replay with PS_TEST_SEED=<seed>.

#include "layers/disk_btree.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "page_cache/page_cache.h"
#include "tests/support/io_test_env.h"
#include "tests/support/status_matchers.h"
#include "virtual_file/io_buffer.h"
#include "virtual_file/virtual_file.h"

namespace pageserver::layers {
namespace {

using common::Result;
using common::Status;
using common::StatusCode;
using page_cache::PageCache;
using ::pageserver::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using virtual_file::AlignedBuffer;
using virtual_file::IoContext;
using virtual_file::OpenOptions;
using virtual_file::VirtualFile;

using Key = std::vector<std::byte>;
// memcmp order, as the tree's (and much cheaper than vector's <=> in a debug build).
struct KeyLess {
  bool operator()(std::span<const std::byte> a, std::span<const std::byte> b) const {
    return Less(a.data(), a.size(), b.data(), b.size());
  }
  // The map's own comparisons: no span construction (it shows at -O0).
  bool operator()(const Key& a, const Key& b) const {
    return Less(a.data(), a.size(), b.data(), b.size());
  }
  // A plain loop: keys of a model mostly differ early, and at -O0 under ASan
  // this is cheaper than memcmp's interceptor.
  static bool Less(const std::byte* a, size_t an, const std::byte* b, size_t bn) {
    const size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; ++i) {
      if (a[i] != b[i]) return a[i] < b[i];
    }
    return an < bn;
  }
};
using Model = std::map<Key, uint64_t, KeyLess>;

constexpr size_t kImageKeyWidth = 18;
constexpr size_t kDeltaKeyWidth = 26;
constexpr uint64_t kFirstBlock = 3;

std::string Hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out += kDigits[std::to_integer<int>(b) >> 4];
    out += kDigits[std::to_integer<int>(b) & 15];
  }
  return out;
}

bool SameBytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

void PutBe(Key& key, size_t at, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) key[at + i] = static_cast<std::byte>(v >> (8 * (n - 1 - i)));
}

// ---------------------------------------------------------------------------
// Key shapes

enum class KeyShape {
  kRandom,        // every byte random
  kSpread,        // first 4 bytes spread evenly: no prefix shared within a node
  kLastByteOnly,  // all keys share width - 1 bytes (at most 256 keys)
  kCounterTail,   // shared head, BE counter with gaps in the last 4 bytes:
                  // the prefix length changes at node boundaries
  kClustered,     // runs of keys sharing width - 4 bytes, runs unrelated
  kImageLike,     // Neon-like 18-byte keys: a few relations, block runs
};

std::string ShapeName(KeyShape shape) {
  switch (shape) {
    case KeyShape::kRandom:
      return "random";
    case KeyShape::kSpread:
      return "spread";
    case KeyShape::kLastByteOnly:
      return "last-byte-only";
    case KeyShape::kCounterTail:
      return "counter-tail";
    case KeyShape::kClustered:
      return "clustered";
    case KeyShape::kImageLike:
      return "image-like";
  }
  return "?";
}

Key RandomKey(std::mt19937_64& rng, size_t width) {
  Key key(width);
  for (auto& b : key) b = static_cast<std::byte>(rng());
  return key;
}

// Generates keys of one shape; Next() may repeat keys (the model dedups).
class KeyGenerator {
 public:
  KeyGenerator(KeyShape shape, size_t width, size_t n, std::mt19937_64& rng)
      : shape_(shape),
        width_(width),
        n_(std::max<size_t>(n, 1)),
        rng_(rng),
        head_(RandomKey(rng, width)) {}

  Key Next() {
    switch (shape_) {
      case KeyShape::kRandom:
        return RandomKey(rng_, width_);
      case KeyShape::kSpread:
        return Spread();
      case KeyShape::kLastByteOnly:
        return WithTail(rng_() & 0xff, 1);
      case KeyShape::kCounterTail:
        counter_ += 1 + rng_() % 300;
        return WithTail(counter_, 4);
      case KeyShape::kClustered:
        return Clustered();
      case KeyShape::kImageLike:
        return ImageLike();
    }
    return {};
  }

 private:
  Key WithTail(uint64_t tail, size_t n) {
    Key key = head_;
    PutBe(key, width_ - n, tail, n);
    return key;
  }
  Key Spread() {
    Key key = RandomKey(rng_, width_);
    const uint64_t step = (uint64_t{1} << 32) / n_;
    PutBe(key, 0, (i_++ % n_) * step + rng_() % std::max<uint64_t>(step, 1), 4);
    return key;
  }
  Key Clustered() {
    if (run_left_ == 0) {
      head_ = RandomKey(rng_, width_);
      run_left_ = 1 + rng_() % (rng_() % 2 ? 2000 : 20);
      counter_ = rng_() % 1000;
    }
    --run_left_;
    counter_ += 1 + rng_() % 3;
    return WithTail(counter_, 4);
  }
  Key ImageLike() {
    Key key(width_);
    key[0] = std::byte{0};
    PutBe(key, 1, 1663, 4);                        // spcnode
    PutBe(key, 5, 16384 + rng_() % 3, 4);          // dbnode
    PutBe(key, 9, 10000 + rng_() % 40, 4);         // relnode
    key[13] = static_cast<std::byte>(rng_() % 3);  // forknum
    PutBe(key, 14, rng_() % 20000, 4);             // blknum
    return key;
  }

  KeyShape shape_;
  size_t width_;
  size_t n_;
  std::mt19937_64& rng_;
  Key head_;
  uint64_t counter_ = 0;
  uint64_t i_ = 0;
  uint64_t run_left_ = 0;
};

// Up to n distinct keys of `shape` with random values.
Model MakeModel(KeyShape shape, size_t width, size_t n, std::mt19937_64& rng) {
  KeyGenerator gen(shape, width, n, rng);
  Model model;
  for (size_t attempts = 0; model.size() < n && attempts < 20 * n + 1000; ++attempts) {
    model.emplace(gen.Next(), rng());
  }
  return model;
}

// ---------------------------------------------------------------------------
// Building

class MemorySink : public BtreeNodeSink {
 public:
  Status AppendNode(std::span<const std::byte> node) override {
    if (node.size() != kNodeSize) return Status::Internal("node of wrong size");
    if (fail_at_ == nodes()) return Status::IoError("sink: injected failure");
    bytes_.insert(bytes_.end(), node.begin(), node.end());
    return Status::Ok();
  }
  size_t nodes() const { return bytes_.size() / kNodeSize; }
  std::span<const std::byte> node(size_t i) const {
    return {bytes_.data() + i * kNodeSize, kNodeSize};
  }
  const std::vector<std::byte>& bytes() const { return bytes_; }
  void FailAt(size_t node) { fail_at_ = node; }

 private:
  std::vector<std::byte> bytes_;
  size_t fail_at_ = SIZE_MAX;
};

struct BuiltTree {
  std::vector<std::byte> nodes;
  BtreeShape shape;
  size_t width = 0;
};

Result<BuiltTree> Build(const Model& model, size_t width) {
  MemorySink sink;
  DiskBtreeBuilder builder(width, &sink);
  for (const auto& [key, value] : model) RETURN_IF_ERROR(builder.Append(key, value));
  ASSIGN_OR_RETURN(BtreeShape shape, builder.Finish());
  return BuiltTree{sink.bytes(), shape, width};
}

BtreeNodeView ParseOrDie(std::span<const std::byte> node, size_t width) {
  Result<BtreeNodeView> view = BtreeNodeView::Parse(node, width, "test node");
  if (!view.has_value()) common::DieWithStatus("ParseOrDie", view.error());
  return *view;
}

std::span<const std::byte> NodeAt(const BuiltTree& tree, uint64_t block) {
  return {tree.nodes.data() + block * kNodeSize, kNodeSize};
}

// Checks the builder's output without the reader: every node parses, the
// root is last at level depth - 1, every child is below its parent, one
// level down, and starts with its separator key; leaves hold the model.
class ShapeChecker {
 public:
  ShapeChecker(const BuiltTree& tree, const Model& model)
      : tree_(tree), it_(model.begin()), end_(model.end()) {}

  void Run() {
    const BtreeShape& s = tree_.shape;
    ASSERT_EQ(s.node_count * kNodeSize, tree_.nodes.size());
    ASSERT_EQ(s.root_block + 1, s.node_count);
    ASSERT_GE(s.depth, 1u);
    ASSERT_NO_FATAL_FAILURE(Visit(s.root_block, static_cast<uint8_t>(s.depth - 1), nullptr));
    EXPECT_TRUE(it_ == end_) << "entries missing from the leaves";
    EXPECT_EQ(visited_, s.node_count);
  }

 private:
  void Visit(uint64_t block, uint8_t level, const Key* separator) {
    ++visited_;
    const BtreeNodeView v = ParseOrDie(NodeAt(tree_, block), tree_.width);
    ASSERT_EQ(v.level(), level) << "block " << block;
    Key key(tree_.width);
    if (separator != nullptr) {
      ASSERT_GT(v.count(), 0u);
      v.KeyAt(0, key);
      ASSERT_EQ(key, *separator) << "block " << block;
    }
    for (size_t i = 0; i < v.count(); ++i) {
      v.KeyAt(i, key);
      if (level == 0) {
        ASSERT_TRUE(it_ != end_);
        ASSERT_EQ(key, it_->first);
        ASSERT_EQ(v.ValueAt(i), it_->second);
        ++it_;
        continue;
      }
      ASSERT_LT(v.ValueAt(i), block);
      ASSERT_NO_FATAL_FAILURE(Visit(v.ValueAt(i), level - 1, &key));
    }
  }

  const BuiltTree& tree_;
  Model::const_iterator it_;
  Model::const_iterator end_;
  uint64_t visited_ = 0;
};

// ---------------------------------------------------------------------------
// A tree in a file, read through a PageCache

class TreeFile {
 public:
  // Writes `tree` at block kFirstBlock of `path` (blocks before it hold
  // 0xEE) and opens a reader over it with a cache of `pages` slots.
  static Result<std::unique_ptr<TreeFile>> Create(const IoContext& ctx, const std::string& path,
                                                  const BuiltTree& tree, uint64_t pages = 64) {
    auto self = std::unique_ptr<TreeFile>(new TreeFile(tree));
    ASSIGN_OR_RETURN(self->cache_, PageCache::Create({.pages = pages}));
    ASSIGN_OR_RETURN(VirtualFile file,
                     VirtualFile::Open(ctx, path, OpenOptions::CreateReadWrite()));
    self->file_ = std::make_unique<VirtualFile>(std::move(file));
    AlignedBuffer all((kFirstBlock + tree.shape.node_count) * kNodeSize, 4096);
    std::fill(all.data(), all.data() + kFirstBlock * kNodeSize, std::byte{0xEE});
    std::copy(tree.nodes.begin(), tree.nodes.end(), all.data() + kFirstBlock * kNodeSize);
    RETURN_IF_ERROR(self->file_->WriteAllAt(0, all.AsSpan()));
    self->NewIdentity();
    return self;
  }
  ~TreeFile() {
    if (damage_fd_ >= 0) ::close(damage_fd_);
  }
  TreeFile(const TreeFile&) = delete;
  TreeFile& operator=(const TreeFile&) = delete;

  // A fresh FileId, so nothing cached so far is served again.
  void NewIdentity() {
    reader_.reset();
    reader_ = std::make_unique<DiskBtreeReader>(BtreeLocation{
        .cache = cache_.get(),
        .file_id = cache_->NewFileId(),
        .file = file_.get(),
        .kind = tree_.width == kDeltaKeyWidth ? page_cache::BlockKind::kDeltaBtreeNode
                                              : page_cache::BlockKind::kImageBtreeNode,
        .first_block = kFirstBlock,
        .shape = tree_.shape,
        .key_width = tree_.width});
  }

  // Overwrites relative block `block` of the tree in the file through a
  // plain descriptor, outside the code under test: the damage is the
  // test's. O_DIRECT reads see it (the kernel writes dirty pages back
  // before a direct read of their range).
  Status WriteNode(uint64_t block, std::span<const std::byte> node) {
    if (damage_fd_ < 0) damage_fd_ = ::open(file_->path().c_str(), O_WRONLY | O_CLOEXEC);
    if (damage_fd_ < 0) return Status::FromErrno(errno, "test: open " + file_->path());
    const off_t at = static_cast<off_t>((kFirstBlock + block) * kNodeSize);
    const ssize_t n = ::pwrite(damage_fd_, node.data(), node.size(), at);
    if (n < 0) return Status::FromErrno(errno, "test: pwrite " + file_->path());
    if (n != static_cast<ssize_t>(node.size())) return Status::Internal("test: short pwrite");
    return Status::Ok();
  }
  Status RestoreNode(uint64_t block) { return WriteNode(block, NodeAt(tree_, block)); }

  const DiskBtreeReader& reader() const { return *reader_; }
  PageCache& cache() { return *cache_; }
  const VirtualFile& file() const { return *file_; }
  const BuiltTree& tree() const { return tree_; }

 private:
  explicit TreeFile(const BuiltTree& tree) : tree_(tree) {}

  BuiltTree tree_;
  std::unique_ptr<PageCache> cache_;
  std::unique_ptr<VirtualFile> file_;
  std::unique_ptr<DiskBtreeReader> reader_;
  int damage_fd_ = -1;  // WriteNode's plain descriptor, opened on first use
};

// ---------------------------------------------------------------------------
// Model checks

void ExpectGet(const DiskBtreeReader& reader, const Model& model, const Key& key) {
  ASSERT_OK_AND_ASSIGN(std::optional<uint64_t> got, reader.Get(key));
  const auto it = model.find(key);
  if (it == model.end()) {
    EXPECT_FALSE(got.has_value()) << "absent key " << Hex(key) << " found";
  } else {
    ASSERT_TRUE(got.has_value()) << "present key " << Hex(key) << " not found";
    EXPECT_EQ(*got, it->second) << Hex(key);
  }
}

// The cursor is at `it` (or invalid when it == end).
void ExpectAt(const DiskBtreeCursor& c, const Model& model, Model::const_iterator it) {
  ASSERT_OK(c.status());
  if (it == model.end()) {
    ASSERT_FALSE(c.valid()) << "cursor at " << Hex(c.key()) << ", expected the end";
    return;
  }
  ASSERT_TRUE(c.valid()) << "cursor invalid, expected " << Hex(it->first);
  ASSERT_TRUE(SameBytes(c.key(), it->first))
      << "cursor at " << Hex(c.key()) << ", expected " << Hex(it->first);
  ASSERT_EQ(c.value(), it->second);
}

Model::const_iterator ModelFloor(const Model& model, const Key& key) {
  auto it = model.upper_bound(key);
  return it == model.begin() ? model.end() : std::prev(it);
}

void ExpectSeeks(const DiskBtreeReader& reader, const Model& model, const Key& key) {
  SCOPED_TRACE("seek " + Hex(key));
  DiskBtreeCursor c = reader.NewCursor();
  ASSERT_OK(c.SeekGE(key));
  ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, model.lower_bound(key)));
  ASSERT_OK(c.SeekLE(key));
  ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, ModelFloor(model, key)));
}

// Whether the cursor is at `it`, without gtest's per-assertion cost: the
// full scans below check each entry with this and call ExpectAt (which says
// what differs) only on a mismatch.
bool IsAt(const DiskBtreeCursor& c, Model::const_iterator it) {
  return c.valid() && SameBytes(c.key(), it->first) && c.value() == it->second;
}

void ExpectForwardScan(const DiskBtreeReader& reader, const Model& model) {
  DiskBtreeCursor c = reader.NewCursor();
  ASSERT_OK(c.SeekFirst());
  for (auto it = model.begin(); it != model.end(); ++it) {
    if (!IsAt(c, it)) {
      ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
    }
    ASSERT_OK(c.Next());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, model.end()));
}

void ExpectBackwardScan(const DiskBtreeReader& reader, const Model& model) {
  DiskBtreeCursor c = reader.NewCursor();
  ASSERT_OK(c.SeekLast());
  for (auto it = model.rbegin(); it != model.rend(); ++it) {
    if (!IsAt(c, std::prev(it.base()))) {
      ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, std::prev(it.base())));
    }
    ASSERT_OK(c.Prev());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, model.end()));
}

// [lo, hi] through SeekGE + Next equals the model's range (its first 1000
// entries: the scans cover whole trees already).
void ExpectRange(const DiskBtreeReader& reader, const Model& model, const Key& lo, const Key& hi) {
  SCOPED_TRACE("range " + Hex(lo) + " .. " + Hex(hi));
  DiskBtreeCursor c = reader.NewCursor();
  ASSERT_OK(c.SeekGE(lo));
  auto it = model.lower_bound(lo);
  for (int n = 0; n < 1000 && it != model.end() && !KeyLess()(hi, it->first); ++n, ++it) {
    ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
    ASSERT_OK(c.Next());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
}

// A random walk of Next/Prev from SeekGE(start) follows the model.
void ExpectWalk(const DiskBtreeReader& reader, const Model& model, const Key& start,
                std::mt19937_64& rng) {
  SCOPED_TRACE("walk from " + Hex(start));
  DiskBtreeCursor c = reader.NewCursor();
  ASSERT_OK(c.SeekGE(start));
  auto it = model.lower_bound(start);
  for (int step = 0; step < 40 && it != model.end(); ++step) {
    ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
    if (rng() % 2 == 0) {
      ASSERT_OK(c.Next());
      ++it;
    } else {
      ASSERT_OK(c.Prev());
      it = it == model.begin() ? model.end() : std::prev(it);
    }
  }
  ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
}

// Absent and boundary keys: neighbours of present keys (last byte +-1),
// present keys' prefixes padded with 0x00 or 0xff (between nodes), the
// smallest and largest keys, and fresh keys of the same shape.
std::vector<Key> Probes(const Model& model, KeyShape shape, size_t width, size_t n,
                        std::mt19937_64& rng) {
  std::vector<Key> probes = {Key(width, std::byte{0}), Key(width, std::byte{0xff})};
  std::vector<const Key*> present;
  for (const auto& entry : model) present.push_back(&entry.first);
  KeyGenerator gen(shape, width, model.size(), rng);
  for (size_t i = 0; i < n; ++i) probes.push_back(gen.Next());
  for (size_t i = 0; i < n && !present.empty(); ++i) {
    Key key = *present[rng() % present.size()];
    const size_t cut = rng() % (width + 1);
    switch (rng() % 4) {
      case 0:
        key.back() = static_cast<std::byte>(std::to_integer<int>(key.back()) + 1);
        break;
      case 1:
        key.back() = static_cast<std::byte>(std::to_integer<int>(key.back()) - 1);
        break;
      case 2:
        std::fill(key.begin() + static_cast<ptrdiff_t>(cut), key.end(), std::byte{0});
        break;
      default:
        std::fill(key.begin() + static_cast<ptrdiff_t>(cut), key.end(), std::byte{0xff});
    }
    probes.push_back(std::move(key));
  }
  return probes;
}

struct ModelCase {
  KeyShape shape;
  size_t width;
  size_t entries;
  size_t probes = 2000;  // absent-key probes; present keys are all looked up up to this many
};

void ExpectMatchesModel(const DiskBtreeReader& reader, const Model& model, const ModelCase& mc,
                        std::mt19937_64& rng) {
  size_t looked_up = 0;
  const size_t every = std::max<size_t>(1, model.size() / std::max<size_t>(mc.probes, 1));
  for (const auto& entry : model) {
    if (looked_up++ % every == 0) {
      ASSERT_NO_FATAL_FAILURE(ExpectGet(reader, model, entry.first));
    }
  }
  const std::vector<Key> probes = Probes(model, mc.shape, mc.width, mc.probes, rng);
  for (const Key& key : probes) {
    ASSERT_NO_FATAL_FAILURE(ExpectGet(reader, model, key));
    ASSERT_NO_FATAL_FAILURE(ExpectSeeks(reader, model, key));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectForwardScan(reader, model));
  ASSERT_NO_FATAL_FAILURE(ExpectBackwardScan(reader, model));
  for (int i = 0; i < 20; ++i) {
    Key a = probes[rng() % probes.size()];
    Key b = probes[rng() % probes.size()];
    if (KeyLess()(b, a)) std::swap(a, b);
    ASSERT_NO_FATAL_FAILURE(ExpectRange(reader, model, a, b));
    ASSERT_NO_FATAL_FAILURE(ExpectWalk(reader, model, a, rng));
  }
}

// Builds the model's tree, checks its shape, writes it to a file and checks
// the reader against the model. Returns the shape for further checks.
BtreeShape RunModelCase(const IoContext& ctx, const std::string& path, const ModelCase& mc,
                        uint64_t pages = 64) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: PS_TEST_SEED=" + std::to_string(seed) +
               "), shape " + ShapeName(mc.shape) + ", width " + std::to_string(mc.width) +
               ", entries " + std::to_string(mc.entries));
  std::mt19937_64 rng(seed);
  const Model model = MakeModel(mc.shape, mc.width, mc.entries, rng);
  Result<BuiltTree> tree = Build(model, mc.width);
  EXPECT_OK(tree);
  if (!tree.has_value()) return {};
  EXPECT_EQ(tree->shape.entry_count, model.size());
  ShapeChecker(*tree, model).Run();
  auto file = TreeFile::Create(ctx, path, *tree, pages);
  EXPECT_OK(file);
  if (!file.has_value()) return {};
  ExpectMatchesModel((*file)->reader(), model, mc, rng);
  return tree->shape;
}

// Fixture of every test that reads a tree from a file: they all run under
// every engine x io mode (AllIoParams; io_uring ones skip, with the probe's
// reason, where io_uring is unusable).
class DiskBtreeTest : public ::pageserver::testing::IoParamTest {
 protected:
  std::string Path(const std::string& name = "tree") const { return dir().File(name); }
};

// ---------------------------------------------------------------------------
// Node format

// Keys whose first two bytes step by 30: any 240 consecutive keys span more
// than 256 values, so a node's first and last keys differ in byte 0 and no
// node has a prefix. REQUIRES: n * 30 < 65536.
Model NoPrefixModel(size_t width, size_t n) {
  Model model;
  for (size_t i = 0; i < n; ++i) {
    Key key(width, std::byte{0x5A});
    PutBe(key, 0, i * 30, 2);
    model.emplace(std::move(key), i);
  }
  return model;
}

// Keys i * step (BE32) in bytes [0, 4) and 0x5A after: little shared prefix
// within a node, for big trees.
Model CounterModel(size_t width, size_t n, uint64_t step = 7) {
  Model model;
  for (size_t i = 0; i < n; ++i) {
    Key key(width, std::byte{0x5A});
    PutBe(key, 0, i * step, 4);
    model.emplace(std::move(key), i);
  }
  return model;
}

// 18-byte keys: 14 bytes 0x33, then i * step (BE32). With step 32768 a node
// of 680 keys spans byte 14, so its prefix is exactly 14 bytes.
Model SharedPrefixModel(size_t n, uint64_t step = 7) {
  Model model;
  for (size_t i = 0; i < n; ++i) {
    Key key(kImageKeyWidth, std::byte{0x33});
    PutBe(key, 14, i * step, 4);
    model.emplace(std::move(key), i);
  }
  return model;
}

size_t FirstLeafCount(const Model& model, size_t width) {
  Result<BuiltTree> tree = Build(model, width);
  if (!tree.has_value()) common::DieWithStatus("Build", tree.error());
  return ParseOrDie(NodeAt(*tree, 0), width).count();
}

TEST(BtreeNodeFormatTest, FanOutMatchesTheHeaderComment) {
  EXPECT_EQ(FirstLeafCount(SharedPrefixModel(2000, 32768), kImageKeyWidth), 680u);
  EXPECT_EQ(FirstLeafCount(NoPrefixModel(kImageKeyWidth, 2000), kImageKeyWidth), 314u);
  EXPECT_EQ(FirstLeafCount(NoPrefixModel(kDeltaKeyWidth, 2000), kDeltaKeyWidth), 240u);
}

TEST(BtreeNodeFormatTest, HeaderFieldsAndPrefixAreAsDocumented) {
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(SharedPrefixModel(10), kImageKeyWidth));
  const std::span<const std::byte> node = NodeAt(tree, 0);
  EXPECT_EQ(node[4], std::byte{kNodeMagic});
  EXPECT_EQ(node[5], std::byte{0});   // leaf
  EXPECT_EQ(node[6], std::byte{10});  // count, LE
  EXPECT_EQ(node[7], std::byte{0});
  EXPECT_EQ(node[8], std::byte{kImageKeyWidth});
  EXPECT_EQ(node[9], std::byte{17});  // keys 0, 7, .., 63 share 17 bytes
  EXPECT_EQ(node[10], std::byte{0});
  EXPECT_EQ(node[11], std::byte{0});
  uint32_t crc = 0;
  for (int i = 3; i >= 0; --i) crc = (crc << 8) | std::to_integer<uint32_t>(node[i]);
  EXPECT_EQ(crc, common::crc32c::Value(node.subspan(4)));
  // Entries: 1-byte suffix + u64 LE value each; the rest is zero.
  const size_t end = kNodeHeaderSize + 17 + size_t{10} * 9;
  EXPECT_EQ(node[kNodeHeaderSize + 17 + 9], std::byte{7});   // suffix of key 1
  EXPECT_EQ(node[kNodeHeaderSize + 17 + 10], std::byte{1});  // value of key 1, low byte
  EXPECT_TRUE(
      std::all_of(node.begin() + end, node.end(), [](std::byte b) { return b == std::byte{0}; }));
}

TEST(BtreeNodeFormatTest, ParseRejectsBadHeaders) {
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(SharedPrefixModel(10), kImageKeyWidth));
  std::vector<std::byte> node(tree.nodes.begin(), tree.nodes.begin() + kNodeSize);
  EXPECT_OK(BtreeNodeView::Parse(node, kImageKeyWidth, "n"));
  EXPECT_THAT(BtreeNodeView::Parse(node, kDeltaKeyWidth, "n"), StatusIs(StatusCode::kCorruption));
  EXPECT_THAT(BtreeNodeView::Parse(std::span(node).first(100), kImageKeyWidth, "n"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(BtreeNodeView::Parse(node, 0, "n"), StatusIs(StatusCode::kInvalidArgument));
  const auto fix_crc = [&] {
    const uint32_t crc = common::crc32c::Value(std::span(node).subspan(4));
    for (int i = 0; i < 4; ++i) node[i] = static_cast<std::byte>(crc >> (8 * i));
  };
  struct Edit {
    size_t offset;
    std::byte value;
    const char* why;
  };
  for (const Edit& e :
       {Edit{4, std::byte{0xB8}, "bad magic"}, Edit{8, std::byte{17}, "wrong key width"},
        Edit{9, std::byte{19}, "prefix longer"}, Edit{10, std::byte{1}, "reserved"},
        Edit{7, std::byte{0x10}, "does not fit"},
        Edit{kNodeHeaderSize + 17 + 9, std::byte{0}, "not strictly ascending"}}) {
    SCOPED_TRACE(e.why);
    const std::byte saved = node[e.offset];
    node[e.offset] = e.value;
    EXPECT_THAT(BtreeNodeView::Parse(node, kImageKeyWidth, "n"),
                StatusIs(StatusCode::kCorruption, HasSubstr("checksum")));
    fix_crc();
    EXPECT_THAT(BtreeNodeView::Parse(node, kImageKeyWidth, "what-name"),
                StatusIs(StatusCode::kCorruption, AllOf(HasSubstr(e.why), HasSubstr("what-name"))));
    node[e.offset] = saved;
    fix_crc();
  }
}

TEST(BtreeNodeFormatTest, SearchWithinANode) {
  const Model model = SharedPrefixModel(100);  // blknum 0, 7, 14, ...
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(model, kImageKeyWidth));
  const BtreeNodeView v = ParseOrDie(NodeAt(tree, 0), kImageKeyWidth);
  ASSERT_EQ(v.count(), 100u);
  Key key(kImageKeyWidth, std::byte{0x33});
  PutBe(key, 14, 14, 4);
  EXPECT_EQ(v.LowerBound(key), 2u);
  EXPECT_EQ(v.FloorIndex(key), 2u);
  EXPECT_EQ(v.CompareKeyAt(2, key), 0);
  PutBe(key, 14, 15, 4);
  EXPECT_EQ(v.LowerBound(key), 3u);
  EXPECT_EQ(v.FloorIndex(key), 2u);
  EXPECT_LT(v.CompareKeyAt(2, key), 0);
  key[0] = std::byte{0x32};  // below the prefix: below every key
  EXPECT_EQ(v.LowerBound(key), 0u);
  EXPECT_EQ(v.FloorIndex(key), std::nullopt);
  key[0] = std::byte{0x34};  // above the prefix: above every key
  EXPECT_EQ(v.LowerBound(key), 100u);
  EXPECT_EQ(v.FloorIndex(key), 99u);
}

// ---------------------------------------------------------------------------
// Builder

TEST(DiskBtreeBuilderTest, RejectsUnsortedDuplicateAndWrongWidthKeys) {
  MemorySink sink;
  DiskBtreeBuilder builder(kImageKeyWidth, &sink);
  Key a(kImageKeyWidth, std::byte{5});
  Key b = a;
  b.back() = std::byte{6};
  ASSERT_OK(builder.Append(b, 1));
  EXPECT_THAT(builder.Append(b, 2), StatusIs(StatusCode::kInvalidArgument));  // duplicate
  EXPECT_THAT(builder.Append(a, 3), StatusIs(StatusCode::kInvalidArgument));  // descending
  EXPECT_THAT(builder.Append(Key(kImageKeyWidth + 1, std::byte{9}), 4),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(builder.Append(Key(kImageKeyWidth - 1, std::byte{9}), 4),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(builder.entry_count(), 1u);  // nothing added by the rejected calls
  Key c = b;
  c.back() = std::byte{7};
  ASSERT_OK(builder.Append(c, 5));
  ASSERT_OK_AND_ASSIGN(BtreeShape shape, builder.Finish());
  EXPECT_EQ(shape.entry_count, 2u);
  EXPECT_THAT(builder.Finish(), StatusIs(StatusCode::kInvalidArgument));
  Key d = c;
  d.back() = std::byte{8};
  EXPECT_THAT(builder.Append(d, 6), StatusIs(StatusCode::kInvalidArgument));
}

TEST(DiskBtreeBuilderTest, RejectsAnInvalidKeyWidth) {
  MemorySink sink;
  DiskBtreeBuilder zero(0, &sink);
  EXPECT_THAT(zero.Append({}, 1), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(zero.Finish(), StatusIs(StatusCode::kInvalidArgument));
  DiskBtreeBuilder wide(kMaxKeyWidth + 1, &sink);
  EXPECT_THAT(wide.Append(Key(kMaxKeyWidth + 1), 1), StatusIs(StatusCode::kInvalidArgument));
}

TEST(DiskBtreeBuilderTest, SinkErrorsAreReturnedAndSticky) {
  MemorySink sink;
  sink.FailAt(1);
  DiskBtreeBuilder builder(kDeltaKeyWidth, &sink);
  Status failed;
  for (const auto& [key, value] : NoPrefixModel(kDeltaKeyWidth, 1000)) {
    failed = builder.Append(key, value);
    if (!failed.ok()) break;
  }
  EXPECT_THAT(failed, StatusIs(StatusCode::kIoError, HasSubstr("injected")));
  EXPECT_THAT(builder.Append(Key(kDeltaKeyWidth, std::byte{0xff}), 0),
              StatusIs(StatusCode::kIoError));
  EXPECT_THAT(builder.Finish(), StatusIs(StatusCode::kIoError));
}

TEST(DiskBtreeBuilderTest, EmptyTreeIsOneEmptyLeaf) {
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build({}, kImageKeyWidth));
  EXPECT_EQ(tree.shape.node_count, 1u);
  EXPECT_EQ(tree.shape.root_block, 0u);
  EXPECT_EQ(tree.shape.depth, 1u);
  EXPECT_EQ(tree.shape.entry_count, 0u);
  const BtreeNodeView v = ParseOrDie(NodeAt(tree, 0), kImageKeyWidth);
  EXPECT_EQ(v.count(), 0u);
  EXPECT_EQ(v.level(), 0u);
}

TEST(DiskBtreeBuilderTest, ShapesOfSmallAndTwoLevelTrees) {
  ASSERT_OK_AND_ASSIGN(BuiltTree one, Build(NoPrefixModel(kImageKeyWidth, 1), kImageKeyWidth));
  EXPECT_EQ(one.shape.depth, 1u);
  EXPECT_EQ(one.shape.node_count, 1u);
  ASSERT_OK_AND_ASSIGN(BuiltTree full, Build(NoPrefixModel(kImageKeyWidth, 314), kImageKeyWidth));
  EXPECT_EQ(full.shape.depth, 1u);
  const Model model = NoPrefixModel(kImageKeyWidth, 315);
  ASSERT_OK_AND_ASSIGN(BuiltTree two, Build(model, kImageKeyWidth));
  EXPECT_EQ(two.shape.depth, 2u);
  EXPECT_EQ(two.shape.node_count, 3u);
  EXPECT_EQ(two.shape.root_block, 2u);
  ShapeChecker(two, model).Run();
}

// A node is cut when the next key would not fit with the prefix recomputed
// for the grown node: 679 keys share 14 bytes and a 680th sharing 14 would
// fit (12 + 14 + 680 * 12 = 8186), but the next key shares only 13 with the
// node's first, and 12 + 13 + 680 * 13 = 8865 does not.
TEST(DiskBtreeBuilderTest, ShrinkingPrefixCutsTheNodeEarly) {
  Model model = SharedPrefixModel(679, 32768);
  Key odd(kImageKeyWidth, std::byte{0x33});
  odd[13] = std::byte{0x34};
  model.emplace(odd, 9);
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(model, kImageKeyWidth));
  ShapeChecker(tree, model).Run();
  EXPECT_EQ(ParseOrDie(NodeAt(tree, 0), kImageKeyWidth).count(), 679u);
  EXPECT_EQ(ParseOrDie(NodeAt(tree, 0), kImageKeyWidth).prefix_len(), 14u);
  EXPECT_EQ(tree.shape.depth, 2u);
}

// ---------------------------------------------------------------------------
// Model-based randomized tests

TEST_P(DiskBtreeTest, EmptyTree) {
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build({}, kImageKeyWidth));
  ASSERT_OK_AND_ASSIGN(auto file, TreeFile::Create(ctx(), Path(), tree));
  ASSERT_OK_AND_ASSIGN(auto got, file->reader().Get(Key(kImageKeyWidth)));
  EXPECT_FALSE(got.has_value());
  DiskBtreeCursor c = file->reader().NewCursor();
  for (int i = 0; i < 4; ++i) {
    const Key probe(kImageKeyWidth, std::byte{0x40});
    ASSERT_OK(i == 0   ? c.SeekFirst()
              : i == 1 ? c.SeekLast()
              : i == 2 ? c.SeekGE(probe)
                       : c.SeekLE(probe));
    EXPECT_FALSE(c.valid());
  }
}

TEST_P(DiskBtreeTest, ModelZeroAndOneEntries) {
  RunModelCase(ctx(), Path("zero"), {KeyShape::kRandom, kDeltaKeyWidth, 0, 200});
  for (KeyShape shape : {KeyShape::kRandom, KeyShape::kLastByteOnly}) {
    RunModelCase(ctx(), Path(ShapeName(shape)), {shape, kDeltaKeyWidth, 1, 200});
  }
}

TEST_P(DiskBtreeTest, ModelThousandsOfEntriesEveryShape) {
  for (KeyShape shape : {KeyShape::kRandom, KeyShape::kSpread, KeyShape::kLastByteOnly,
                         KeyShape::kCounterTail, KeyShape::kClustered}) {
    for (size_t width : {kImageKeyWidth, kDeltaKeyWidth}) {
      RunModelCase(ctx(), Path(ShapeName(shape) + std::to_string(width)),
                   {shape, width, 3000, 1000});
    }
  }
  RunModelCase(ctx(), Path("image"), {KeyShape::kImageLike, kImageKeyWidth, 5000});
}

TEST_P(DiskBtreeTest, ModelOtherKeyWidths) {
  for (size_t width : {size_t{1}, size_t{2}, size_t{8}, kMaxKeyWidth}) {
    RunModelCase(ctx(), Path(std::to_string(width)), {KeyShape::kRandom, width, 2000, 300});
  }
}

TEST_P(DiskBtreeTest, ModelHundredsOfThousandsOfEntriesHasThreeLevels) {
  const BtreeShape shape =
      RunModelCase(ctx(), Path(), {KeyShape::kRandom, kDeltaKeyWidth, 200000, 2000}, 128);
  EXPECT_GE(shape.depth, 3u);
}

TEST_P(DiskBtreeTest, ModelClusteredBigTree) {
  const BtreeShape shape =
      RunModelCase(ctx(), Path(), {KeyShape::kClustered, kDeltaKeyWidth, 80000, 2000}, 16);
  EXPECT_GE(shape.depth, 2u);
}

// ---------------------------------------------------------------------------
// Corruption

// A two-level tree of 130 64-byte keys: leaves of 113 and 17 entries and a
// root (small, so that flipping each of its bytes is quick).
constexpr size_t kSmallWidth = kMaxKeyWidth;
Model SmallTwoLevelModel() { return NoPrefixModel(kSmallWidth, 130); }

// A full forward scan through `reader`: each entry it yields is correct,
// and it either ends where the model does or fails with Corruption.
// Returns 1 when it failed, else 0.
int CheckScanErrorOrCorrect(const DiskBtreeReader& reader, const Model& model) {
  DiskBtreeCursor c = reader.NewCursor();
  Status s = c.SeekFirst();
  auto it = model.begin();
  while (s.ok() && c.valid() && it != model.end()) {
    EXPECT_TRUE(SameBytes(c.key(), it->first)) << Hex(c.key());
    EXPECT_EQ(c.value(), it->second);
    ++it;
    s = c.Next();
  }
  if (s.ok()) {
    EXPECT_TRUE(it == model.end() && !c.valid()) << "scan ended early without an error";
    return 0;
  }
  EXPECT_THAT(s, StatusIs(StatusCode::kCorruption));
  EXPECT_FALSE(c.valid());
  EXPECT_THAT(c.status(), StatusIs(StatusCode::kCorruption));
  return 1;
}

// Point lookups of `probes` and a full scan: each answer is an error or
// correct. Returns how many answers were errors.
int CheckErrorOrCorrect(const DiskBtreeReader& reader, const Model& model,
                        const std::vector<Key>& probes) {
  int errors = 0;
  for (const Key& key : probes) {
    auto got = reader.Get(key);
    if (!got.has_value()) {
      EXPECT_THAT(got, StatusIs(StatusCode::kCorruption));
      ++errors;
      continue;
    }
    const auto it = model.find(key);
    EXPECT_EQ(*got, it == model.end() ? std::nullopt : std::optional(it->second)) << Hex(key);
  }
  return errors + CheckScanErrorOrCorrect(reader, model);
}

// The first, a middle and the last key, and an absent one: every node of
// SmallTwoLevelModel's tree is on the path of one of them.
std::vector<Key> CorruptionProbes(const Model& model) {
  Key absent = model.begin()->first;
  absent.back() = std::byte{0x5B};
  return {model.begin()->first, std::next(model.begin(), model.size() / 2)->first,
          std::prev(model.end())->first, absent};
}

// A key whose lookup reads node `block` of the two-level `tree`: a leaf's
// first key, or any key for the root.
Key KeyThrough(const BuiltTree& tree, uint64_t block) {
  const BtreeNodeView view = ParseOrDie(NodeAt(tree, block), tree.width);
  Key key(tree.width);
  view.KeyAt(0, key);
  return key;
}

// Flips every byte of every node, one at a time: the flip must be seen and
// no answer may be wrong. Every flip gets a lookup through the flipped node
// (which must fail: the node is never cached, so it is read again, once);
// the header bytes and every 61st byte also get CheckErrorOrCorrect's
// lookups and full scan. Under O_DIRECT each read of the node is a device
// round trip, so reads per flip are what this test costs in direct modes.
void FlipEveryByte(TreeFile& file, const Model& model) {
  const std::vector<Key> probes = CorruptionProbes(model);
  const BuiltTree& tree = file.tree();
  for (uint64_t block = 0; block < tree.shape.node_count; ++block) {
    // A fresh identity drops the good copy of `block` from the cache; its
    // corrupt versions are never cached, so one identity serves every flip
    // (and the other nodes stay cached, which keeps this test fast).
    file.NewIdentity();
    const Key through = KeyThrough(tree, block);
    const auto names_block = StatusIs(StatusCode::kCorruption,
                                      HasSubstr("block " + std::to_string(kFirstBlock + block)));
    std::vector<std::byte> node(NodeAt(tree, block).begin(), NodeAt(tree, block).end());
    for (size_t at = 0; at < kNodeSize; ++at) {
      SCOPED_TRACE("block " + std::to_string(block) + " byte " + std::to_string(at));
      node[at] ^= std::byte{0xff};
      ASSERT_OK(file.WriteNode(block, node));
      EXPECT_THAT(file.reader().Get(through), names_block);
      if (at < 2 * kNodeHeaderSize || at % 61 == 0) {
        EXPECT_GT(CheckErrorOrCorrect(file.reader(), model, probes), 0);
      }
      node[at] ^= std::byte{0xff};
      if (::testing::Test::HasFailure()) return;
    }
    ASSERT_OK(file.RestoreNode(block));
  }
  file.NewIdentity();
  EXPECT_EQ(CheckErrorOrCorrect(file.reader(), model, probes), 0);
}

TEST_P(DiskBtreeTest, EveryFlippedByteIsAnErrorNeverAWrongAnswer) {
  const Model model = SmallTwoLevelModel();
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(model, kSmallWidth));
  ASSERT_EQ(tree.shape.depth, 2u);
  ASSERT_OK_AND_ASSIGN(auto file, TreeFile::Create(ctx(), Path(), tree, 16));
  FlipEveryByte(*file, model);
}

void FixCrc(std::vector<std::byte>& node) {
  const uint32_t crc = common::crc32c::Value(std::span(node).subspan(4));
  for (int i = 0; i < 4; ++i) node[i] = static_cast<std::byte>(crc >> (8 * i));
}

// With the checksum fixed up, edits of header bytes and child pointers get
// past Parse; the reader must still not crash, hang or read out of bounds
// (answers may be wrong: the checksum is what catches corruption), every
// error it reports is Corruption, and once the node is restored every
// answer is right again.
TEST_P(DiskBtreeTest, ChecksumValidGarbageDoesNotCrash) {
  const uint64_t seed = ::pageserver::testing::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: PS_TEST_SEED=" + std::to_string(seed) +
               ")");
  std::mt19937_64 rng(seed);
  const Model model = CounterModel(kMaxKeyWidth, 20000);  // 3 levels of 64-byte keys
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(model, kMaxKeyWidth));
  ASSERT_EQ(tree.shape.depth, 3u);
  ASSERT_OK_AND_ASSIGN(auto file, TreeFile::Create(ctx(), Path(), tree, 16));
  std::vector<Key> probes;
  for (auto it = model.begin(); it != model.end();
       std::advance(it, std::min<ptrdiff_t>(2999, std::distance(it, model.end())))) {
    probes.push_back(it->first);
  }
  const auto error_or_ok = ::testing::AnyOf(StatusIs(StatusCode::kOk),
                                            StatusIs(StatusCode::kCorruption, HasSubstr(Path())));
  const uint64_t root = tree.shape.root_block;
  for (uint64_t block : {uint64_t{0}, root - 1, root}) {
    std::vector<std::byte> node(NodeAt(tree, block).begin(), NodeAt(tree, block).end());
    for (int edit = 0; edit < 80; ++edit) {
      const size_t at = edit < 12 ? 4 + rng() % 8 : rng() % 200;
      SCOPED_TRACE("block " + std::to_string(block) + " byte " + std::to_string(at));
      const std::byte saved = node[at];
      node[at] = static_cast<std::byte>(rng());
      FixCrc(node);
      ASSERT_OK(file->WriteNode(block, node));
      file->NewIdentity();
      for (const Key& key : probes) {
        ASSERT_THAT(file->reader().Get(key).status(), error_or_ok);
        DiskBtreeCursor c = file->reader().NewCursor();
        Status s = c.SeekLE(key);
        for (int step = 0; step < 100 && s.ok() && c.valid(); ++step) s = c.Prev();
        ASSERT_THAT(s, error_or_ok);
        s = c.SeekGE(key);
        for (int step = 0; step < 100 && s.ok() && c.valid(); ++step) s = c.Next();
        ASSERT_THAT(s, error_or_ok);
      }
      node[at] = saved;
    }
    ASSERT_OK(file->RestoreNode(block));
    file->NewIdentity();
    for (const Key& key : probes) ASSERT_NO_FATAL_FAILURE(ExpectGet(file->reader(), model, key));
  }
}

// ---------------------------------------------------------------------------
// Reader behaviour that depends on the file under the cache

TEST_P(DiskBtreeTest, CorruptNodeIsNotCachedAndNamesFileAndBlock) {
  const Model model = SmallTwoLevelModel();
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(model, kSmallWidth));
  ASSERT_OK_AND_ASSIGN(auto file, TreeFile::Create(ctx(), Path(), tree, 16));
  std::vector<std::byte> leaf(NodeAt(tree, 1).begin(), NodeAt(tree, 1).end());
  leaf[100] ^= std::byte{1};
  ASSERT_OK(file->WriteNode(1, leaf));
  const Key& in_leaf1 = std::prev(model.end())->first;
  const auto where = AllOf(HasSubstr(Path()), HasSubstr("block " + std::to_string(kFirstBlock + 1)),
                           HasSubstr("checksum"));
  for (int attempt = 1; attempt <= 2; ++attempt) {
    EXPECT_THAT(file->reader().Get(in_leaf1), StatusIs(StatusCode::kCorruption, where));
    EXPECT_EQ(file->cache().Stats().fills_failed, static_cast<uint64_t>(attempt));
  }
  DiskBtreeCursor c = file->reader().NewCursor();
  EXPECT_THAT(c.SeekLast(), StatusIs(StatusCode::kCorruption, where));
  EXPECT_FALSE(c.valid());
  // The same FileId reads the restored bytes: the corrupt node was never cached.
  ASSERT_OK(file->RestoreNode(1));
  ASSERT_OK_AND_ASSIGN(auto got, file->reader().Get(in_leaf1));
  EXPECT_EQ(got, std::prev(model.end())->second);
  ASSERT_OK(c.SeekLast());
  EXPECT_TRUE(c.valid());
}

TEST_P(DiskBtreeTest, TruncatedFileIsCorruption) {
  const Model model = SmallTwoLevelModel();
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(model, kSmallWidth));
  ASSERT_OK_AND_ASSIGN(auto file, TreeFile::Create(ctx(), Path(), tree, 16));
  const uint64_t end = (kFirstBlock + tree.shape.node_count) * kNodeSize;
  for (uint64_t cut : {uint64_t{100}, kNodeSize, kNodeSize + 1, 2 * kNodeSize}) {
    SCOPED_TRACE("cut " + std::to_string(cut));
    ASSERT_OK(file->file().SetLen(end - cut));
    file->NewIdentity();
    const uint64_t damaged = kFirstBlock + tree.shape.root_block;  // the first node read
    EXPECT_THAT(file->reader().Get(model.begin()->first),
                StatusIs(StatusCode::kCorruption,
                         AllOf(HasSubstr(Path()), HasSubstr("block " + std::to_string(damaged)))));
    DiskBtreeCursor c = file->reader().NewCursor();
    EXPECT_THAT(c.SeekFirst(), StatusIs(StatusCode::kCorruption));
  }
}

// The root's first child pointer edited (checksum fixed up) to point at the
// root itself, above it, past the tree, or to a node at the wrong level.
TEST_P(DiskBtreeTest, BadChildPointersAreCorruptionNotAHang) {
  const Model model = CounterModel(kMaxKeyWidth, 20000);  // 3 levels of 64-byte keys
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(model, kMaxKeyWidth));
  ASSERT_EQ(tree.shape.depth, 3u);
  ASSERT_OK_AND_ASSIGN(auto file, TreeFile::Create(ctx(), Path(), tree, 16));
  const uint64_t root = tree.shape.root_block;
  const BtreeNodeView view = ParseOrDie(NodeAt(tree, root), kMaxKeyWidth);
  const size_t value_at = kNodeHeaderSize + view.prefix_len() + kMaxKeyWidth - view.prefix_len();
  for (uint64_t target : {root, root + 1, uint64_t{1} << 40, uint64_t{0}}) {
    SCOPED_TRACE("child pointer " + std::to_string(target));
    std::vector<std::byte> node(NodeAt(tree, root).begin(), NodeAt(tree, root).end());
    for (int i = 0; i < 8; ++i) node[value_at + i] = static_cast<std::byte>(target >> (8 * i));
    FixCrc(node);
    ASSERT_OK(file->WriteNode(root, node));
    file->NewIdentity();
    const auto named = StatusIs(StatusCode::kCorruption, HasSubstr(Path()));
    EXPECT_THAT(file->reader().Get(model.begin()->first), named);
    DiskBtreeCursor c = file->reader().NewCursor();
    EXPECT_THAT(c.SeekFirst(), named);
    EXPECT_THAT(c.SeekGE(model.begin()->first), named);
    // Keys under the other children are unaffected.
    ASSERT_OK_AND_ASSIGN(auto got, file->reader().Get(std::prev(model.end())->first));
    EXPECT_EQ(got, std::prev(model.end())->second);
  }
}

TEST_P(DiskBtreeTest, FetchNodeChecksTheLevelAndBounds) {
  ASSERT_OK_AND_ASSIGN(BuiltTree tree, Build(SmallTwoLevelModel(), kSmallWidth));
  ASSERT_OK_AND_ASSIGN(auto file, TreeFile::Create(ctx(), Path(), tree, 16));
  const DiskBtreeReader& reader = file->reader();
  ASSERT_OK_AND_ASSIGN(page_cache::PageGuard page, reader.FetchNode(tree.shape.root_block, 1));
  EXPECT_EQ(page.block_no(), kFirstBlock + tree.shape.root_block);
  page.Release();
  EXPECT_THAT(reader.FetchNode(0, 1), StatusIs(StatusCode::kCorruption, HasSubstr("level")));
  EXPECT_THAT(reader.FetchNode(tree.shape.node_count, 0),
              StatusIs(StatusCode::kCorruption, HasSubstr("outside")));
  EXPECT_THAT(reader.Get(Key(3)), StatusIs(StatusCode::kInvalidArgument));
  DiskBtreeCursor c = reader.NewCursor();
  EXPECT_THAT(c.SeekGE(Key(3)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_FALSE(c.valid());
  EXPECT_THAT(c.Next(), StatusIs(StatusCode::kInvalidArgument));
}

INSTANTIATE_TEST_SUITE_P(All, DiskBtreeTest,
                         ::testing::ValuesIn(::pageserver::testing::AllIoParams()),
                         ::pageserver::testing::IoParamName);

}  // namespace
}  // namespace pageserver::layers
