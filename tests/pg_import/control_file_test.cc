#include "pg_import/control_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pg_import/import.h"
#include "tests/pg_import/pg_import_test_util.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace pageserver::pg_import {
namespace {

using common::StatusCode;
using pageserver::testing::StatusIs;
using test_util::Bytes;
using test_util::FixControlFileCrc;
using test_util::RealControlFile;
using ::testing::HasSubstr;

void SetU32(Bytes& b, size_t offset, uint32_t v) {
  for (size_t i = 0; i < 4; ++i) b[offset + i] = std::byte((v >> (8 * i)) & 0xFF);
}

TEST(ControlFileTest, ParsesTheFieldsInitdbWrote) {
  ASSERT_OK_AND_ASSIGN(const ControlFileInfo info, ParseControlFile(RealControlFile()));
  // The values pg_controldata printed for this file.
  EXPECT_EQ(info.system_identifier, 7715589053683492276u);
  EXPECT_EQ(info.pg_control_version, 1300u);
  EXPECT_EQ(info.state, 1u);
  EXPECT_EQ(info.checkpoint_lsn.ToString(), "0/6000060");
  EXPECT_EQ(info.redo_lsn.ToString(), "0/6000060");
  EXPECT_EQ(info.pg_major_version, 15u);
  EXPECT_EQ(info.ImportLsn().ToString(), "0/6000060");
}

TEST(ControlFileTest, ImportLsnIsTheCheckpointAlignedUpTo8) {
  ControlFileInfo info;
  info.checkpoint_lsn = layers::Lsn{0x1500718};
  EXPECT_EQ(info.ImportLsn().value, 0x1500718u);
  info.checkpoint_lsn = layers::Lsn{0x1500719};
  EXPECT_EQ(info.ImportLsn().value, 0x1500720u);
  info.checkpoint_lsn = layers::Lsn{0x150071F};
  EXPECT_EQ(info.ImportLsn().value, 0x1500720u);
}

TEST(ControlFileTest, EveryFlippedByteBeforeTheCrcIsDetected) {
  const Bytes clean = RealControlFile();
  for (size_t i = 0; i < control_file::kControlDataSize; ++i) {
    Bytes bytes = clean;
    bytes[i] ^= std::byte{0x10};
    const auto result = ParseControlFile(bytes);
    const bool version = i >= control_file::kVersionOffset && i < control_file::kVersionOffset + 4;
    EXPECT_THAT(result, StatusIs(version ? StatusCode::kUnsupported : StatusCode::kCorruption))
        << "byte " << i;
  }
  Bytes bytes = clean;
  bytes[100] ^= std::byte{1};
  EXPECT_THAT(ParseControlFile(bytes), StatusIs(StatusCode::kCorruption, HasSubstr("CRC")));
}

TEST(ControlFileTest, ShortGarbageAndForeignLayoutsAreRefused) {
  const Bytes clean = RealControlFile();
  EXPECT_THAT(ParseControlFile(std::span(clean).first(291)),
              StatusIs(StatusCode::kCorruption, HasSubstr("291 bytes")));
  EXPECT_OK(ParseControlFile(std::span(clean).first(292)));
  EXPECT_THAT(ParseControlFile(test_util::PatternBytes(1, 8192)),
              StatusIs(StatusCode::kUnsupported, HasSubstr("pg_control_version")));
  Bytes zeros(8192);
  SetU32(zeros, control_file::kVersionOffset, 1300);
  EXPECT_THAT(ParseControlFile(zeros), StatusIs(StatusCode::kCorruption, HasSubstr("CRC")));
  Bytes blcksz = clean;
  SetU32(blcksz, control_file::kBlckszOffset, 16384);
  FixControlFileCrc(blcksz);
  EXPECT_THAT(ParseControlFile(blcksz), StatusIs(StatusCode::kUnsupported, HasSubstr("blcksz")));
}

TEST(ControlFileTest, ReadControlFileRefusesAClusterNotShutDownCleanly) {
  pageserver::testing::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/global");
  std::ofstream(dir.File("PG_VERSION")) << "15\n";
  auto write = [&](const Bytes& b) {
    std::ofstream(dir.File("global/pg_control"), std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  write(RealControlFile());
  ASSERT_OK_AND_ASSIGN(const ControlFileInfo info, ReadControlFile(dir.path()));
  EXPECT_EQ(info.pg_major_version, 15u);
  Bytes running = RealControlFile();
  SetU32(running, control_file::kStateOffset, 6);
  FixControlFileCrc(running);
  write(running);
  EXPECT_THAT(ReadControlFile(dir.path()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("in production")));
  Bytes flipped = RealControlFile();
  flipped[40] ^= std::byte{1};
  write(flipped);
  EXPECT_THAT(ReadControlFile(dir.path()),
              StatusIs(StatusCode::kCorruption, HasSubstr("global/pg_control")));
  EXPECT_THAT(ReadControlFile(dir.File("missing")), StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace pageserver::pg_import
