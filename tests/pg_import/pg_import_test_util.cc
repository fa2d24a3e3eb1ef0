#include "tests/pg_import/pg_import_test_util.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/crc32c.h"
#include "tests/support/io_test_env.h"

namespace pageserver::pg_import::test_util {

namespace {

constexpr size_t kBlock = 512;

void PutField(Bytes& block, size_t offset, size_t width, const std::string& text) {
  for (size_t i = 0; i < width && i < text.size(); ++i) block[offset + i] = std::byte(text[i]);
}

// `width - 1` octal digits and a NUL.
std::string Octal(uint64_t value, size_t width) {
  std::string digits(width - 1, '0');
  for (size_t i = digits.size(); i-- > 0; value /= 8) digits[i] = char('0' + value % 8);
  return digits + '\0';
}

void Pad(Bytes& bytes) {
  while (bytes.size() % kBlock != 0) bytes.push_back(std::byte{0});
}

constexpr const char* kControlFileHex =
    "b465b2895d47136b1405000025770d0c01000000000000002f48136b00000000"
    "6000000600000000600000060000000001000000010000000100000000000000"
    "eb020000000000001a4000000100000000000000cc0200000100000001000000"
    "01000000000000002f48136b0000000000000000000000000000000000000000"
    "e803000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000010000000000000064000000080000000a000000"
    "000000004000000000000000080000000000000087d632410020000000000200"
    "00200000000000014000000020000000cc070000000800000100000000000000"
    "a14b9594f701e1e3f694727b20d982a1de07cc81a1f8aea8b20d4896a7b5ba95"
    "76e24b5800000000";

}  // namespace

Bytes ToBytes(std::string_view text) {
  return Bytes(reinterpret_cast<const std::byte*>(text.data()),
               reinterpret_cast<const std::byte*>(text.data()) + text.size());
}

Bytes PatternBytes(uint64_t seed, size_t n) { return testing::PatternBytes(seed, 0, n); }

Bytes TarBuilder::HeaderBlock(const Header& h) {
  Bytes block(kBlock);
  PutField(block, 0, 100, h.name);
  PutField(block, 100, 8, Octal(0644, 8));
  PutField(block, 108, 8, Octal(0, 8));
  PutField(block, 116, 8, Octal(0, 8));
  if (h.base256_size) {
    block[124] = std::byte{0x80};
    for (size_t i = 0; i < 8; ++i) block[135 - i] = std::byte((h.size >> (8 * i)) & 0xFF);
  } else {
    PutField(block, 124, 12, Octal(h.size, 12));
  }
  PutField(block, 136, 12, Octal(0, 12));
  block[156] = std::byte(h.typeflag);
  if (h.magic == Magic::kPosix) {
    PutField(block, 257, 8,
             std::string("ustar\0"
                         "00",
                         8));
    PutField(block, 345, 155, h.prefix);
  } else {
    PutField(block, 257, 8, std::string("ustar  \0", 8));
    PutField(block, 345, 155, h.prefix);  // GNU keeps other data here
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? uint8_t{' '} : std::to_integer<uint8_t>(block[i]);
  }
  PutField(block, 148, 8, Octal(sum, 7) + " ");
  return block;
}

TarBuilder& TarBuilder::Add(const Header& header, std::span<const std::byte> content) {
  const Bytes block = HeaderBlock(header);
  bytes_.insert(bytes_.end(), block.begin(), block.end());
  bytes_.insert(bytes_.end(), content.begin(), content.end());
  Pad(bytes_);
  return *this;
}

TarBuilder& TarBuilder::File(const std::string& path, std::span<const std::byte> content) {
  member_offsets_.push_back(bytes_.size());
  return Add({.name = path, .size = content.size()}, content);
}

TarBuilder& TarBuilder::Dir(const std::string& path) {
  member_offsets_.push_back(bytes_.size());
  return Add({.name = path + "/", .typeflag = '5'}, {});
}

TarBuilder& TarBuilder::GnuLongFile(const std::string& path, std::span<const std::byte> content) {
  member_offsets_.push_back(bytes_.size());
  Bytes name = ToBytes(path);
  name.push_back(std::byte{0});
  Add({.name = "././@LongLink", .size = name.size(), .typeflag = 'L', .magic = Magic::kGnu}, name);
  return Add({.name = path.substr(0, 100), .size = content.size(), .magic = Magic::kGnu}, content);
}

std::string TarBuilder::PaxRecords(const std::map<std::string, std::string>& records) {
  std::string out;
  for (const auto& [key, value] : records) {
    const std::string body = " " + key + "=" + value + "\n";
    size_t len = body.size() + 1;
    while (std::to_string(len).size() + body.size() != len) ++len;
    out += std::to_string(len) + body;
  }
  return out;
}

TarBuilder& TarBuilder::PaxFile(const std::map<std::string, std::string>& records,
                                const std::string& header_name, uint64_t header_size,
                                std::span<const std::byte> content) {
  member_offsets_.push_back(bytes_.size());
  const Bytes pax = ToBytes(PaxRecords(records));
  Add({.name = "PaxHeaders/x", .size = pax.size(), .typeflag = 'x'}, pax);
  return Add({.name = header_name, .size = header_size}, content);
}

TarBuilder& TarBuilder::PaxGlobal(const std::map<std::string, std::string>& records) {
  const Bytes pax = ToBytes(PaxRecords(records));
  return Add({.name = "GlobalHead.0", .size = pax.size(), .typeflag = 'g'}, pax);
}

Bytes TarBuilder::Finish(size_t extra) const {
  Bytes out = bytes_;
  out.resize(out.size() + 2 * kBlock + extra);
  return out;
}

common::Result<size_t> MemorySource::Read(std::span<std::byte> dst) {
  size_t n = std::min({dst.size(), data_.size() - pos_, max_chunk_});
  if (random_ && n > 1) n = 1 + rng_() % n;
  if (n > 0) std::memcpy(dst.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

Bytes RealControlFile() {
  const std::string hex = kControlFileHex;
  Bytes out(8192);
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    out[i] = std::byte(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return out;
}

void FixControlFileCrc(Bytes& control) {
  const uint32_t crc = common::crc32c::Value(std::span(control).first(288));
  for (size_t i = 0; i < 4; ++i) control[288 + i] = std::byte((crc >> (8 * i)) & 0xFF);
}

void SyntheticCluster::WriteTo(const std::string& pgdata) const {
  std::filesystem::create_directories(pgdata);
  for (const std::string& d : dirs) std::filesystem::create_directories(pgdata + "/" + d);
  for (const auto& [path, content] : files) {
    const std::string full = pgdata + "/" + path;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    std::ofstream(full, std::ios::binary)
        .write(reinterpret_cast<const char*>(content.data()),
               static_cast<std::streamsize>(content.size()));
  }
}

Bytes SyntheticCluster::ToTar() const {
  TarBuilder tar;
  for (const std::string& d : dirs) tar.Dir(d);
  for (const auto& [path, content] : files) {
    if (path.size() <= 100) {
      tar.File(path, content);
    } else {
      tar.GnuLongFile(path, content);
    }
  }
  return tar.Finish();
}

timeline::TimelineConfig TestTimelineConfig() {
  timeline::TimelineConfig config;
  config.background_threads = false;
  config.ephemeral_buffer_bytes = 64 * 1024;
  config.writer.write_buffer_bytes = 64 * 1024;
  return config;
}

void TimelineFixture::SetUp() {
  io_engine::IoEngineOptions options;
  options.kind = io_engine::IoEngineKind::kStdFs;
  auto engine = io_engine::CreateIoEngine(options);
  ASSERT_TRUE(engine.has_value()) << engine.error().ToString();
  engine_ = std::move(engine).value();
  ctx_.engine = engine_.get();
  auto cache = page_cache::PageCache::Create({.pages = 512});
  ASSERT_TRUE(cache.has_value()) << cache.error().ToString();
  cache_ = std::move(cache).value();
}

std::shared_ptr<timeline::Timeline> TimelineFixture::CreateTimeline(layers::Lsn start) {
  auto tl = timeline::Timeline::CreateEmpty(
      timeline::TimelineResources{&ctx_, cache_.get(), &registry_}, dir_.path() + "/data",
      layers::TenantId::Generate(), layers::TimelineId::Generate(), start, 15,
      TestTimelineConfig());
  if (!tl.has_value()) common::DieWithStatus("create timeline", tl.error());
  return std::move(tl).value();
}

}  // namespace pageserver::pg_import::test_util
