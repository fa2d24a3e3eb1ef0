// `layer dump` and `layer verify` (layer_get.cc holds `layer get`).

#include "tools/pagectl/layer_commands.h"

#include <cstdio>
#include <memory>

#include "layers/delta_layer.h"
#include "layers/image_layer.h"
#include "layers/layer_iterator.h"
#include "layers/layer_verify.h"
#include "tools/pagectl/layer_format.h"

namespace pageserver::pagectl {

namespace {

using common::Status;
using nlohmann::json;

template <typename Reader, typename Visit>
Status VisitEntries(const Reader& reader, Visit& visit) {
  ASSIGN_OR_RETURN(std::unique_ptr<layers::LayerIterator> it,
                   layers::LayerIterator::Create(reader, reader.summary().key_range));
  while (it->valid()) {
    visit(it->entry());
    RETURN_IF_ERROR(it->Next());
  }
  return it->status();
}

template <typename Reader, typename Visit>
Status OpenAndVisit(const ToolIo& io, const std::string& path, Visit& visit) {
  ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, Reader::Open(io.ctx, path, io.cache.get()));
  return VisitEntries(*reader, visit);
}

// Calls visit(const LayerEntry&) for every entry of the layer, in
// (key, LSN) order, reading values with bounded read-ahead.
template <typename Visit>
Status ForEachEntry(const ToolIo& io, const std::string& path, layers::LayerKind kind,
                    Visit visit) {
  if (kind == layers::LayerKind::kImage) {
    return OpenAndVisit<layers::ImageLayerReader>(io, path, visit);
  }
  return OpenAndVisit<layers::DeltaLayerReader>(io, path, visit);
}

int DumpText(const ToolIo& io, const DumpArgs& args, const layers::LayerStats& stats) {
  PrintField("layer", args.file);
  PrintSummaryText(stats.summary);
  PrintStatsText(stats);
  if (!args.keys) return kExitOk;
  std::printf("\n");
  PrintEntryHeader();
  const Status status = ForEachEntry(io, args.file, stats.summary.kind,
                                     [](const layers::LayerEntry& e) { PrintEntryText(e); });
  std::fflush(stdout);
  return status.ok() ? kExitOk : Fail(status);
}

int DumpJson(const ToolIo& io, const DumpArgs& args, const layers::LayerStats& stats) {
  json out = SummaryJson(stats.summary);
  out["path"] = args.file;
  out.update(StatsJson(stats));
  if (args.keys) {
    json keys = json::array();
    const Status status =
        ForEachEntry(io, args.file, stats.summary.kind,
                     [&keys](const layers::LayerEntry& e) { keys.push_back(EntryJson(e)); });
    if (!status.ok()) return Fail(status);
    out["keys"] = std::move(keys);
  }
  std::printf("%s\n", out.dump(2).c_str());
  return kExitOk;
}

}  // namespace

int Fail(const Status& status) {
  std::fprintf(stderr, "pagectl: %s\n", status.ToString().c_str());
  return kExitFailure;
}

int RunLayerDump(const ToolIo& io, const DumpArgs& args) {
  const auto stats = layers::ComputeLayerStats(io.ctx, args.file);
  if (!stats.has_value()) return Fail(stats.error());
  return args.json ? DumpJson(io, args, *stats) : DumpText(io, args, *stats);
}

int RunLayerVerify(const ToolIo& io, const VerifyArgs& args) {
  const auto report = layers::VerifyLayerFile(io.ctx, args.file);
  if (!report.has_value()) return Fail(report.error());
  if (args.json) {
    std::printf("%s\n", VerifyJson(args.file, *report).dump(2).c_str());
  } else {
    PrintVerifyText(args.file, *report);
  }
  return report->ok() ? kExitOk : kExitNegative;
}

}  // namespace pageserver::pagectl
