#pragma once

#include <cstdint>

namespace pageserver::testing {

// A seed for randomized tests: $PS_TEST_SEED when set (decimal or 0x hex, to
// replay a failure), otherwise fresh. Every seed it returns is announced
// (AnnounceSeed) before the test uses it, so the seed survives a crash or a
// sanitizer abort; also add it to failure messages with SCOPED_TRACE.
//
//   const uint64_t seed = TestSeed();  // stderr: "[Suite.Test] seed=42 (replay: PS_TEST_SEED=42)"
//   SCOPED_TRACE("PS_TEST_SEED=" + std::to_string(seed));
//   std::mt19937_64 rng(seed);
uint64_t TestSeed();

// Writes "[<running test>] seed=<seed> (replay: PS_TEST_SEED=<seed>)" to
// stderr (unbuffered: it is out before anything the test does can crash)
// and returns `seed`. For seeds a test derives by other means.
uint64_t AnnounceSeed(uint64_t seed);

}  // namespace pageserver::testing
