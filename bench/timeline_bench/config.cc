#include "bench/timeline_bench/config.h"

#include <fnmatch.h>

namespace pageserver::bench {

bool CaseSelected(const TimelineBenchConfig& config, const std::string& name) {
  if (config.cases.empty()) return true;
  for (const std::string& pattern : config.cases) {
    const bool glob = pattern.find_first_of("*?[") != std::string::npos;
    if (glob ? ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0
             : name.find(pattern) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace pageserver::bench
