#include "timeline/gc.h"

namespace pageserver::timeline {

using layers::Lsn;

namespace {

// The oldest image LSN that hides `layer` from reads above it: a delta's
// last LSN (end - 1: the image holds every record at or below its LSN), or,
// for an image, the next LSN (a newer image, not itself).
Lsn HidingImageLsn(const LayerDesc& layer) {
  return layer.is_delta() ? Lsn{layer.lsn_range().end.value - 1} : layer.lsn_range().end;
}

// True when images with LSN in [HidingImageLsn(layer), at] cover every key
// of the layer's key range.
bool CoveredByNewerImages(const LayerMap& map, const LayerDesc& layer, Lsn at) {
  const Lsn hiding = HidingImageLsn(layer);
  if (at == Lsn::Max() || hiding > at) return false;
  for (const ImageCoverageEntry& piece : map.ImageCoverage(layer.key_range(), Lsn{at.value + 1})) {
    if (piece.image == nullptr) return false;
    if (piece.image->desc.image_lsn() < hiding) return false;
  }
  return true;
}

bool Removable(const LayerMap& map, const LayerDesc& layer, Lsn cutoff,
               std::span<const Lsn> retain_lsns) {
  if (layer.lsn_range().end > cutoff) return false;
  if (!CoveredByNewerImages(map, layer, cutoff)) return false;
  for (const Lsn retain : retain_lsns) {
    if (layer.lsn_range().start <= retain && !CoveredByNewerImages(map, layer, retain)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<LayerHandlePtr> SelectGcVictims(const LayerMap& map, Lsn cutoff,
                                            std::span<const Lsn> retain_lsns) {
  std::vector<LayerHandlePtr> victims;
  for (const LayerHandlePtr& layer : map.AllLayers()) {
    if (Removable(map, layer->desc, cutoff, retain_lsns)) victims.push_back(layer);
  }
  return victims;
}

}  // namespace pageserver::timeline
