#pragma once

#include <cstdint>

namespace pageserver::testing {

// A seed for randomized tests: $PS_TEST_SEED when set (to replay a failure),
// otherwise fresh. Print it with SCOPED_TRACE.
uint64_t TestSeed();

}  // namespace pageserver::testing
