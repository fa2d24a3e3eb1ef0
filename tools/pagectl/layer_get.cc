// `layer get FILE KEY [LSN]`: one key's value (image) or history (delta).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "layers/delta_layer.h"
#include "layers/image_layer.h"
#include "layers/layer_verify.h"
#include "tools/pagectl/layer_commands.h"
#include "tools/pagectl/layer_format.h"

namespace pageserver::pagectl {

namespace {

using common::Result;
using common::Status;
using layers::Key;
using layers::Lsn;
using nlohmann::json;

constexpr size_t kImageDumpBytes = 64;    // hex dump of an image value
constexpr size_t kHistoryHeadBytes = 16;  // first bytes shown per history value

// "X/X" (Postgres) or 16 hex digits (file names); unset = latest.
Result<std::optional<Lsn>> ParseLsnArg(const std::optional<std::string>& text) {
  if (!text.has_value()) return std::optional<Lsn>();
  if (text->find('/') != std::string::npos) {
    ASSIGN_OR_RETURN(const Lsn lsn, Lsn::Parse(*text));
    return std::optional<Lsn>(lsn);
  }
  if (text->size() == 16) {
    ASSIGN_OR_RETURN(const Lsn lsn, Lsn::ParseFileHex(*text));
    return std::optional<Lsn>(lsn);
  }
  return Status::InvalidArgument("bad LSN '" + *text + "': expected X/X or 16 hex digits");
}

std::string KeyText(const Key& key) { return key.ToHex() + " (" + key.Describe() + ")"; }

Status KeyNotFound(const Key& key, const std::string& path, const std::string& why) {
  return Status::NotFound("key " + KeyText(key) + " not found in " + path + why);
}

// ---- image layers ----

struct ImageAnswer {
  Lsn lsn;
  layers::BlobRef blob;
  std::vector<std::byte> value;
};

Result<ImageAnswer> Lookup(const layers::ImageLayerReader& reader, const Key& key,
                           std::optional<Lsn> as_of) {
  const Lsn at = reader.summary().lsn_range.start;
  if (as_of.has_value() && *as_of < at) {
    return KeyNotFound(key, reader.path(),
                       ": the image is at LSN " + at.ToString() + ", above " + as_of->ToString());
  }
  ASSIGN_OR_RETURN(const std::optional<layers::BlobRef> blob, reader.Lookup(key));
  if (!blob.has_value()) return KeyNotFound(key, reader.path(), "");
  ASSIGN_OR_RETURN(std::vector<std::byte> value, reader.ReadValue(*blob));
  return ImageAnswer{at, *blob, std::move(value)};
}

void PrintImageText(const Key& key, const ImageAnswer& a, const GetArgs& args) {
  const uint64_t stored = a.blob.length - layers::kBlobHeaderSize;
  PrintField("key", key.ToHex());
  PrintField("", key.Describe());
  PrintField("layer", "image at " + a.lsn.ToString());
  PrintField("length", std::to_string(a.value.size()) + " bytes");
  PrintField("stored", std::to_string(stored) + " bytes" +
                           (stored < a.value.size() ? " (zstd)" : " (uncompressed)"));
  PrintField("will_init", a.blob.will_init ? "yes" : "no");
  PrintField("crc32c", Crc32cHex(a.value));
  if (args.out.has_value()) PrintField("written to", *args.out);
  std::printf("first %zu bytes\n", std::min(kImageDumpBytes, a.value.size()));
  PrintHexDump(a.value, kImageDumpBytes, "  ");
}

json ImageJson(const Key& key, const ImageAnswer& a, const GetArgs& args) {
  const uint64_t stored = a.blob.length - layers::kBlobHeaderSize;
  json out = {{"key", key.ToHex()},
              {"description", key.Describe()},
              {"kind", "image"},
              {"lsn", a.lsn.ToString()},
              {"length", a.value.size()},
              {"stored_length", stored},
              {"compressed", stored < a.value.size()},
              {"will_init", a.blob.will_init},
              {"crc32c", Crc32cHex(a.value)},
              {"head_hex", HexBytes(a.value, kImageDumpBytes)}};
  out["out"] = args.out.has_value() ? json(*args.out) : json(nullptr);
  return out;
}

int Report(const layers::ImageLayerReader& /*reader*/, const GetArgs& args, const Key& key,
           const ImageAnswer& a) {
  if (args.out.has_value()) {
    const Status written = WriteOutputFile(*args.out, a.value);
    if (!written.ok()) return Fail(written);
  }
  if (args.json) {
    std::printf("%s\n", ImageJson(key, a, args).dump(2).c_str());
  } else {
    PrintImageText(key, a, args);
  }
  return kExitOk;
}

// ---- delta layers ----

using History = layers::DeltaLayerReader::History;

// The layer's LSNs at or below `as_of`: [start, min(as_of + 1, end)).
layers::LsnRange AsOfRange(const layers::LsnRange& layer, std::optional<Lsn> as_of) {
  if (!as_of.has_value() || as_of->value == Lsn::kMaxValue) return layer;
  return {layer.start, std::min(layer.end, Lsn{as_of->value + 1})};
}

Result<History> Lookup(const layers::DeltaLayerReader& reader, const Key& key,
                       std::optional<Lsn> as_of) {
  const layers::LsnRange range = AsOfRange(reader.summary().lsn_range, as_of);
  const std::string below = as_of.has_value() ? " at or below LSN " + as_of->ToString() : "";
  if (range.empty()) {
    return KeyNotFound(key, reader.path(),
                       ": the layer starts at LSN " + range.start.ToString() + ", above" + below);
  }
  ASSIGN_OR_RETURN(History history, reader.GetHistory(key, range));
  if (history.values.empty()) return KeyNotFound(key, reader.path(), below);
  return history;
}

void PrintHistoryText(const layers::DeltaLayerReader& reader, const GetArgs& args, const Key& key,
                      const History& h) {
  PrintField("key", key.ToHex());
  PrintField("", key.Describe());
  PrintField("layer", "delta " + reader.summary().lsn_range.ToString());
  PrintField("as of", args.lsn.has_value() ? *args.lsn : std::string("latest"));
  PrintField("values", std::to_string(h.values.size()) + ", newest first");
  PrintField("history", h.complete ? "complete (ends at a will_init value)"
                                   : "incomplete (older values are in lower layers)");
  std::printf("  %-17s  %-4s  %8s  %-10s  %s\n", "LSN", "INIT", "LENGTH", "CRC32C", "FIRST BYTES");
  for (const auto& v : h.values) {
    std::printf("  %-17s  %-4s  %8zu  %-10s  %s\n", v.lsn.ToString().c_str(),
                v.will_init ? "yes" : "no", v.bytes.size(), Crc32cHex(v.bytes).c_str(),
                HexBytes(v.bytes, kHistoryHeadBytes).c_str());
  }
}

json HistoryJson(const layers::DeltaLayerReader& reader, const GetArgs& args, const Key& key,
                 const History& h) {
  json values = json::array();
  for (const auto& v : h.values) {
    values.push_back({{"lsn", v.lsn.ToString()},
                      {"will_init", v.will_init},
                      {"length", v.bytes.size()},
                      {"crc32c", Crc32cHex(v.bytes)},
                      {"head_hex", HexBytes(v.bytes, kHistoryHeadBytes)}});
  }
  json out = {{"key", key.ToHex()},     {"description", key.Describe()},
              {"kind", "delta"},        {"lsn_range", reader.summary().lsn_range.ToString()},
              {"complete", h.complete}, {"values", std::move(values)}};
  out["as_of"] = args.lsn.has_value() ? json(*args.lsn) : json(nullptr);
  return out;
}

int Report(const layers::DeltaLayerReader& reader, const GetArgs& args, const Key& key,
           const History& h) {
  if (args.json) {
    std::printf("%s\n", HistoryJson(reader, args, key, h).dump(2).c_str());
  } else {
    PrintHistoryText(reader, args, key, h);
  }
  return kExitOk;
}

// ---- both ----

int NotFoundExit(const GetArgs& args, const Key& key, const Status& status) {
  std::fprintf(stderr, "pagectl: %s\n", status.ToString().c_str());
  if (args.json) {
    const json out = {{"key", key.ToHex()}, {"found", false}, {"reason", status.message()}};
    std::printf("%s\n", out.dump(2).c_str());
  }
  return kExitNegative;
}

template <typename Reader>
int RunGet(const ToolIo& io, const GetArgs& args, const Key& key, std::optional<Lsn> as_of) {
  const auto reader = Reader::Open(io.ctx, args.file, io.cache.get());
  if (!reader.has_value()) return Fail(reader.error());
  const auto answer = Lookup(**reader, key, as_of);
  if (!answer.has_value()) {
    return answer.error().IsNotFound() ? NotFoundExit(args, key, answer.error())
                                       : Fail(answer.error());
  }
  return Report(**reader, args, key, *answer);
}

}  // namespace

int RunLayerGet(const ToolIo& io, const GetArgs& args) {
  const auto key = Key::ParseHex(args.key);
  if (!key.has_value()) return Fail(key.error());
  const auto as_of = ParseLsnArg(args.lsn);
  if (!as_of.has_value()) return Fail(as_of.error());
  const auto kind = layers::PeekLayerKind(io.ctx, args.file);
  if (!kind.has_value()) return Fail(kind.error());
  if (*kind == layers::LayerKind::kImage) {
    return RunGet<layers::ImageLayerReader>(io, args, *key, *as_of);
  }
  if (args.out.has_value()) {
    return Fail(Status::InvalidArgument(
        "--out writes an image value, and " + args.file +
        " is a delta layer (its history is records; use --json to script over it)"));
  }
  return RunGet<layers::DeltaLayerReader>(io, args, *key, *as_of);
}

}  // namespace pageserver::pagectl
