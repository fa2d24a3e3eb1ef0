#include "tests/support/seed.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

namespace pageserver::testing {

uint64_t TestSeed() {
  const char* text = std::getenv("PS_TEST_SEED");
  if (text != nullptr && *text != '\0') return AnnounceSeed(std::strtoull(text, nullptr, 0));
  return AnnounceSeed(std::random_device{}());
}

uint64_t AnnounceSeed(uint64_t seed) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name =
      test == nullptr ? "" : std::string(test->test_suite_name()) + "." + test->name();
  std::fprintf(stderr, "[%s] seed=%" PRIu64 " (replay: PS_TEST_SEED=%" PRIu64 ")\n", name.c_str(),
               seed, seed);
  std::fflush(stderr);
  return seed;
}

}  // namespace pageserver::testing
