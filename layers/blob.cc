#include "layers/blob.h"

// ZSTD_d_stableOutBuffer is declared in the experimental section; it is set
// through the stable ZSTD_DCtx_setParameter, so the shared library suffices.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "common/crc32c.h"

namespace pageserver::layers {
namespace {

using common::Result;
using common::Status;

constexpr uint8_t kFlagWillInit = 1 << 0;
constexpr uint8_t kFlagZstd = 1 << 1;
constexpr uint8_t kKnownFlags = kFlagWillInit | kFlagZstd;
// Decoded values are at most kMaxValueSize = 2^20 bytes, so no legitimate
// frame needs a larger window; the limit keeps a corrupt frame header from
// asking the decoder for a large allocation.
constexpr int kZstdWindowLogMax = 20;
static_assert(size_t{1} << kZstdWindowLogMax == kMaxValueSize);

using HeaderBytes = std::array<std::byte, kBlobHeaderSize>;

uint32_t LoadLe32(const std::byte* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

void StoreLe32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (8 * i));
}

// The first kBlobHeaderSize bytes of the pieces; false when they hold fewer.
bool GatherHeader(BlobPieces pieces, HeaderBytes& out) {
  size_t filled = 0;
  for (std::span<const std::byte> piece : pieces) {
    const size_t n = std::min(piece.size(), out.size() - filled);
    if (n == 0) continue;  // an empty piece may have a null data pointer
    std::memcpy(out.data() + filled, piece.data(), n);
    filled += n;
    if (filled == out.size()) return true;
  }
  return false;
}

struct GatheredHeader {
  HeaderBytes bytes;
  BlobHeader header;
};

// ReadBlobHeader, also returning the raw header bytes for the checksum.
Result<GatheredHeader> GatherAndParseHeader(BlobPieces pieces) {
  GatheredHeader g;
  const size_t size = BlobPiecesSize(pieces);
  if (!GatherHeader(pieces, g.bytes)) {
    return Status::Corruption("blob of " + std::to_string(size) +
                              " bytes is shorter than its 16-byte header");
  }
  ASSIGN_OR_RETURN(g.header, ParseBlobHeader(g.bytes));
  if (size != kBlobHeaderSize + uint64_t{g.header.stored_len}) {
    return Status::Corruption("blob length " + std::to_string(size) + " != 16 + stored length " +
                              std::to_string(g.header.stored_len));
  }
  return g;
}

// Calls fn(span) for each non-empty part of the pieces past the header.
template <typename Fn>
void ForEachPayloadPiece(BlobPieces pieces, Fn&& fn) {
  size_t skip = kBlobHeaderSize;
  for (std::span<const std::byte> piece : pieces) {
    const size_t n = std::min(skip, piece.size());
    skip -= n;
    if (piece.size() > n) fn(piece.subspan(n));
  }
}

// crc32c of bytes [4, 16 + stored_len): header fields, then payload.
uint32_t BlobChecksum(const HeaderBytes& header, BlobPieces pieces) {
  uint32_t crc = common::crc32c::Value(std::span(header).subspan(4));
  ForEachPayloadPiece(pieces,
                      [&](std::span<const std::byte> p) { crc = common::crc32c::Extend(crc, p); });
  return crc;
}

std::string ZstdError(std::string_view what, size_t code) {
  return std::string(what) + ": " + ZSTD_getErrorName(code);
}

// ---- decoding ----

struct DctxDeleter {
  void operator()(ZSTD_DCtx* dctx) const { ZSTD_freeDCtx(dctx); }
};

// The calling thread's decompression context, configured once; nullptr when
// zstd cannot allocate one.
ZSTD_DCtx* ThreadDctx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx = [] {
    std::unique_ptr<ZSTD_DCtx, DctxDeleter> d(ZSTD_createDCtx());
    if (d == nullptr) return d;
    // Decode straight into the caller's buffer: no internal window buffer,
    // so every decoded byte is written once.
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d.get(), ZSTD_d_stableOutBuffer, 1)) ||
        ZSTD_isError(ZSTD_DCtx_setParameter(d.get(), ZSTD_d_windowLogMax, kZstdWindowLogMax))) {
      d.reset();
    }
    return d;
  }();
  return dctx.get();
}

// Feeds one input piece. `done` turns true when the frame ended; bytes after
// the end of the frame are Corruption.
Status DecompressPiece(ZSTD_DCtx* dctx, std::span<const std::byte> piece, ZSTD_outBuffer& out,
                       bool& done) {
  ZSTD_inBuffer in{piece.data(), piece.size(), 0};
  while (in.pos < in.size) {
    if (done) return Status::Corruption("bytes after the end of the zstd frame");
    const size_t ret = ZSTD_decompressStream(dctx, &out, &in);
    if (ZSTD_isError(ret)) return Status::Corruption(ZstdError("zstd", ret));
    done = ret == 0;
  }
  return Status::Ok();
}

// Called once all input is consumed: a frame that has not ended is
// truncated. One more call settles it (with a stable output buffer the
// decoder holds no pending output, so it cannot make progress).
Status FinishFrame(ZSTD_DCtx* dctx, ZSTD_outBuffer& out, bool done) {
  if (done) return Status::Ok();
  ZSTD_inBuffer in{nullptr, 0, 0};
  const size_t ret = ZSTD_decompressStream(dctx, &out, &in);
  if (ZSTD_isError(ret)) return Status::Corruption(ZstdError("zstd", ret));
  if (ret != 0) return Status::Corruption("truncated zstd frame");
  return Status::Ok();
}

Status DecompressPieces(BlobPieces pieces, std::span<std::byte> dst) {
  ZSTD_DCtx* dctx = ThreadDctx();
  if (dctx == nullptr) return Status::ResourceExhausted("zstd: cannot allocate a context");
  const size_t reset = ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
  if (ZSTD_isError(reset)) return Status::Internal(ZstdError("zstd reset", reset));
  ZSTD_outBuffer out{dst.data(), dst.size(), 0};
  bool done = false;
  Status status;
  ForEachPayloadPiece(pieces, [&](std::span<const std::byte> p) {
    if (status.ok()) status = DecompressPiece(dctx, p, out, done);
  });
  RETURN_IF_ERROR(status);
  RETURN_IF_ERROR(FinishFrame(dctx, out, done));
  if (out.pos != dst.size()) {
    return Status::Corruption("zstd payload decoded to " + std::to_string(out.pos) +
                              " bytes, header says " + std::to_string(dst.size()));
  }
  return Status::Ok();
}

void CopyPieces(BlobPieces pieces, std::span<std::byte> dst) {
  size_t pos = 0;
  ForEachPayloadPiece(pieces, [&](std::span<const std::byte> p) {
    if (p.empty()) return;  // memcpy's pointers must be non-null even for 0 bytes
    std::memcpy(dst.data() + pos, p.data(), p.size());
    pos += p.size();
  });
}

// Header parse, size check and checksum: everything but the payload.
Result<BlobHeader> VerifyBlob(BlobPieces pieces) {
  ASSIGN_OR_RETURN(const GatheredHeader gathered, GatherAndParseHeader(pieces));
  const uint32_t stored = LoadLe32(gathered.bytes.data());
  const uint32_t computed = BlobChecksum(gathered.bytes, pieces);
  if (stored != computed) {
    return Status::Corruption("checksum mismatch (stored " + std::to_string(stored) +
                              ", computed " + std::to_string(computed) + ")");
  }
  return gathered.header;
}

Status DecodePayload(const BlobHeader& header, BlobPieces pieces, std::span<std::byte> dst) {
  if (dst.size() != header.decoded_len) {
    return Status::InvalidArgument("destination of " + std::to_string(dst.size()) +
                                   " bytes for a blob of " + std::to_string(header.decoded_len) +
                                   " decoded bytes");
  }
  if (!header.compressed) {
    CopyPieces(pieces, dst);
    return Status::Ok();
  }
  return DecompressPieces(pieces, dst);
}

}  // namespace

Result<Compression> ParseCompression(std::string_view text) {
  if (text == "none") return Compression::kNone;
  if (text == "zstd") return Compression::kZstd;
  return Status::InvalidArgument("image_compression: unknown compression '" + std::string(text) +
                                 "' (expected none or zstd)");
}

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

Result<BlobHeader> ParseBlobHeader(std::span<const std::byte, kBlobHeaderSize> bytes) {
  const uint8_t flags = uint8_t(bytes[12]);
  if ((flags & ~kKnownFlags) != 0) {
    return Status::Corruption("blob header: unknown flags " + std::to_string(flags));
  }
  if (bytes[13] != std::byte{0} || bytes[14] != std::byte{0} || bytes[15] != std::byte{0}) {
    return Status::Corruption("blob header: reserved bytes are not zero");
  }
  BlobHeader h{LoadLe32(&bytes[4]), LoadLe32(&bytes[8]), (flags & kFlagWillInit) != 0,
               (flags & kFlagZstd) != 0};
  const std::string lens = " (stored " + std::to_string(h.stored_len) + ", decoded " +
                           std::to_string(h.decoded_len) + ")";
  if (h.decoded_len > kMaxValueSize) {
    return Status::Corruption("blob header: decoded length over the maximum value size" + lens);
  }
  if (!h.compressed && h.stored_len != h.decoded_len) {
    return Status::Corruption("blob header: uncompressed lengths differ" + lens);
  }
  if (h.compressed && h.stored_len >= h.decoded_len) {
    return Status::Corruption("blob header: compressed payload not smaller than decoded" + lens);
  }
  return h;
}

size_t BlobPiecesSize(BlobPieces pieces) {
  size_t total = 0;
  for (std::span<const std::byte> piece : pieces) total += piece.size();
  return total;
}

Result<BlobHeader> ReadBlobHeader(BlobPieces pieces) {
  ASSIGN_OR_RETURN(const GatheredHeader gathered, GatherAndParseHeader(pieces));
  return gathered.header;
}

Status DecodeBlobInto(BlobPieces pieces, std::span<std::byte> dst) {
  ASSIGN_OR_RETURN(const BlobHeader header, VerifyBlob(pieces));
  return DecodePayload(header, pieces, dst);
}

Result<DecodedBlob> DecodeBlob(BlobPieces pieces) {
  ASSIGN_OR_RETURN(const BlobHeader header, VerifyBlob(pieces));
  DecodedBlob blob{header.will_init, header.compressed, {}};
  blob.value.resize(header.decoded_len);
  RETURN_IF_ERROR(DecodePayload(header, pieces, blob.value));
  return blob;
}

// ---- encoding ----

struct BlobEncoder::ZstdState {
  struct CctxDeleter {
    void operator()(ZSTD_CCtx* cctx) const { ZSTD_freeCCtx(cctx); }
  };
  std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx;
};

BlobEncoder::BlobEncoder() : zstd_(std::make_unique<ZstdState>()) {}
BlobEncoder::~BlobEncoder() = default;

namespace {

// Compresses `value` into `dst`; the compressed size, or 0 when it would not
// be strictly smaller than the value (dst has value.size() - 1 bytes).
Result<size_t> CompressIfSmaller(ZSTD_CCtx* cctx, std::span<const std::byte> value,
                                 std::span<std::byte> dst) {
  if (value.size() <= 1) return size_t{0};
  const size_t n =
      ZSTD_compressCCtx(cctx, dst.data(), value.size() - 1, value.data(), value.size(), kZstdLevel);
  if (!ZSTD_isError(n)) return n;
  if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) return size_t{0};
  return Status::Internal(ZstdError("zstd compress", n));
}

void WriteHeader(std::span<std::byte> blob, uint32_t decoded_len, bool will_init, bool compressed) {
  const uint32_t stored_len = uint32_t(blob.size() - kBlobHeaderSize);
  StoreLe32(&blob[4], stored_len);
  StoreLe32(&blob[8], decoded_len);
  blob[12] = std::byte((will_init ? kFlagWillInit : 0) | (compressed ? kFlagZstd : 0));
  blob[13] = blob[14] = blob[15] = std::byte{0};
  StoreLe32(&blob[0], common::crc32c::Value(blob.subspan(4)));
}

}  // namespace

Result<std::span<const std::byte>> BlobEncoder::Encode(std::span<const std::byte> value,
                                                       bool will_init, Compression compression) {
  if (value.size() > kMaxValueSize) {
    return Status::InvalidArgument("blob value of " + std::to_string(value.size()) +
                                   " bytes exceeds the maximum of " +
                                   std::to_string(kMaxValueSize));
  }
  scratch_.resize(kBlobHeaderSize + value.size());
  const std::span<std::byte> payload = std::span(scratch_).subspan(kBlobHeaderSize);
  size_t compressed = 0;
  if (compression == Compression::kZstd) {
    if (zstd_->cctx == nullptr) zstd_->cctx.reset(ZSTD_createCCtx());
    if (zstd_->cctx == nullptr) return Status::ResourceExhausted("zstd: cannot allocate a context");
    ASSIGN_OR_RETURN(compressed, CompressIfSmaller(zstd_->cctx.get(), value, payload));
  }
  if (compressed == 0 && !value.empty()) {
    std::memcpy(payload.data(), value.data(), value.size());
  }
  const size_t stored = compressed != 0 ? compressed : value.size();
  const std::span<std::byte> blob = std::span(scratch_).first(kBlobHeaderSize + stored);
  WriteHeader(blob, uint32_t(value.size()), will_init, compressed != 0);
  return std::span<const std::byte>(blob);
}

}  // namespace pageserver::layers
