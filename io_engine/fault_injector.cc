#include "io_engine/fault_injector.h"

#include <cerrno>

namespace pageserver::io_engine {

uint64_t FaultInjector::Next() {
  // splitmix64 over (seed, call index): reproducible for a given seed and
  // call order, no shared PRNG state to race on.
  uint64_t z = plan_.seed + 0x9e3779b97f4a7c15ULL * (counter_.fetch_add(1) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool FaultInjector::OneIn(uint32_t n) { return n != 0 && Next() % n == 0; }

int64_t FaultInjector::BeforeSubmit(IoOpcode op) {
  if (!enabled()) return 0;
  if (OneIn(plan_.error_one_in)) return -plan_.error_errno;
  if (OneIn(plan_.eagain_one_in)) return -EAGAIN;
  (void)op;
  return 0;
}

int FaultInjector::BeforeRingSubmit() {
  if (!enabled()) return 0;
  if (OneIn(plan_.ring_failure_one_in)) return -ENXIO;
  if (OneIn(plan_.submit_busy_one_in)) return -EBUSY;
  return 0;
}

int64_t FaultInjector::Apply(IoOpcode op, size_t asked, int64_t res) {
  if (!enabled() || res <= 0) return res;
  if (op == IoOpcode::kRead && OneIn(plan_.zero_one_in)) return 0;
  // A shortened write is safe to inject: the engine rewrites the unreported
  // suffix with the same bytes at the same offsets.
  const bool transfer = op == IoOpcode::kRead || op == IoOpcode::kWrite;
  const auto unit = static_cast<int64_t>(plan_.short_unit == 0 ? 1 : plan_.short_unit);
  if (transfer && res > unit && OneIn(plan_.short_one_in)) {
    // A prefix of 1..(res/unit - 1) units, or fewer when res is not a
    // multiple of unit (the EOF tail): never the whole transfer.
    const auto units = static_cast<uint64_t>((res - 1) / unit);
    return unit * (1 + static_cast<int64_t>(Next() % units));
  }
  (void)asked;
  return res;
}

}  // namespace pageserver::io_engine
