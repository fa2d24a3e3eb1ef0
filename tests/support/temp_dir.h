#pragma once

// TempDir: a fresh directory for one test, removed with its contents when the
// object dies. Created under $PS_TEST_TMPDIR when set (point it at the
// filesystem you want to test direct IO on), else under $TMPDIR or /tmp.

#include <string>

namespace pageserver::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace pageserver::testing
