#include "tests/support/seed.h"

#include <cstdlib>
#include <random>

namespace pageserver::testing {

uint64_t TestSeed() {
  const char* text = std::getenv("PS_TEST_SEED");
  if (text != nullptr && *text != '\0') return std::strtoull(text, nullptr, 0);
  return std::random_device{}();
}

}  // namespace pageserver::testing
