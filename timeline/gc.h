#pragma once

// Which historic layers garbage collection may remove (Neon's
// Timeline::gc_timeline selection), as a pure function of a layer map so it
// can be tested without files.
//
// A read at LSN x of key k walks from x down and stops at the first image
// (or will_init record) it meets. A layer L is needed by reads at x when the
// walk from x can reach it, which it cannot when an image holding everything
// in L, at or below x, covers the keys of L. An image at LSN i holds every
// record at or below i, so it hides a delta L when i >= L.end - 1 (the
// delta's last LSN; LayerMap::Search picks the image then), and an image L
// when i > L's LSN. Call that bound h(L). L may be removed iff
//   1. L.lsn_range.end <= cutoff (nothing in L is at or above the cutoff;
//      reads at or above the cutoff are the only ones the timeline serves);
//   2. images with LSN in [h(L), cutoff] cover all of L.key_range (reads at
//      the cutoff, hence at every LSN above it, stop before L); and
//   3. for every retain LSN r (a child branch point) with L.start <= r,
//      images with LSN in [h(L), r] cover all of L.key_range (the child
//      reads this timeline as of r). A layer starting above r holds nothing
//      visible at r.
// Coverage uses LayerMap::ImageCoverage, i.e. the newest image below the
// bound for each piece of the range; a piece whose newest image is older
// than L.end (or that has none) keeps L. An image that is the newest for some
// piece at the cutoff is therefore never removed itself.
//
// Example (one key range, cutoff 0/50): D[10,20) D[20,30) I@29 D[30,60):
// D[10,20) and D[20,30) are removed (I@29 >= their last LSNs, <= 50); I@29
// stays (no newer image covers it); D[30,60) stays (end 60 > 50). With a
// retain LSN 0/25, D[20,30) stays as well (no image in [29, 25]).
//
// Thread-safety: a pure function of an immutable map.

#include <span>
#include <vector>

#include "layers/lsn.h"
#include "timeline/layer_map.h"

namespace pageserver::timeline {

// The layers of `map` that may be removed, in map order.
std::vector<LayerHandlePtr> SelectGcVictims(const LayerMap& map, layers::Lsn cutoff,
                                            std::span<const layers::Lsn> retain_lsns);

}  // namespace pageserver::timeline
