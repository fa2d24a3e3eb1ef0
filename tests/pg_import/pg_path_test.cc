#include "pg_import/pg_path.h"

#include <gtest/gtest.h>

namespace pageserver::pg_import {
namespace {

using layers::RelTag;
using layers::SlruKind;

struct Case {
  const char* path;
  PgFileKind kind;
  RelTag rel;
  uint32_t segno;
  SlruKind slru;
};

TEST(PgPathTest, ClassifiesEveryKindOfFile) {
  constexpr auto R = PgFileKind::kRelation;
  constexpr auto S = PgFileKind::kSlru;
  constexpr auto A = PgFileKind::kAux;
  constexpr auto W = PgFileKind::kWal;
  constexpr auto C = PgFileKind::kControlFile;
  const Case cases[] = {
      {"base/5/16384", R, {1663, 5, 16384, 0}, 0, {}},
      {"base/5/16384_fsm", R, {1663, 5, 16384, 1}, 0, {}},
      {"base/5/16384_vm", R, {1663, 5, 16384, 2}, 0, {}},
      {"base/5/16384_init", R, {1663, 5, 16384, 3}, 0, {}},
      {"base/5/16384.1", R, {1663, 5, 16384, 0}, 1, {}},
      {"base/5/16384_vm.12", R, {1663, 5, 16384, 2}, 12, {}},
      {"base/1/4294967295", R, {1663, 1, 4294967295u, 0}, 0, {}},
      {"global/1262", R, {1664, 0, 1262, 0}, 0, {}},
      {"global/1262_fsm", R, {1664, 0, 1262, 1}, 0, {}},
      {"pg_tblspc/16500/PG_15_202209061/5/16390_fsm", R, {16500, 5, 16390, 1}, 0, {}},
      {"pg_tblspc/16500/PG_15_202209061/5/16390.3", R, {16500, 5, 16390, 0}, 3, {}},
      {"global/pg_control", C, {}, 0, {}},
      {"pg_xact/0000", S, {}, 0, SlruKind::kClog},
      {"pg_xact/00AF", S, {}, 0xAF, SlruKind::kClog},
      {"pg_multixact/members/0001", S, {}, 1, SlruKind::kMultiXactMembers},
      {"pg_multixact/offsets/0000", S, {}, 0, SlruKind::kMultiXactOffsets},
      {"pg_xact/00000000000000F", S, {}, 15, SlruKind::kClog},
      {"pg_wal", W, {}, 0, {}},
      {"pg_wal/000000010000000000000001", W, {}, 0, {}},
      {"pg_wal/archive_status/x.done", W, {}, 0, {}},
      // aux: everything else
      {"postgresql.conf", A, {}, 0, {}},
      {"PG_VERSION", A, {}, 0, {}},
      {"base/5/PG_VERSION", A, {}, 0, {}},
      {"base/5/pg_filenode.map", A, {}, 0, {}},
      {"base/5/pg_internal.init", A, {}, 0, {}},
      {"global/pg_filenode.map", A, {}, 0, {}},
      {"base/5/t3_16384", A, {}, 0, {}},  // temporary relation
      {"base/5/16384.0", A, {}, 0, {}},   // segment 0 has no suffix
      {"base/5/016384", A, {}, 0, {}},    // leading zero
      {"base/5/16384_xx", A, {}, 0, {}},  // unknown fork
      {"base/5/16384.", A, {}, 0, {}},
      {"base/5/0", A, {}, 0, {}},           // InvalidOid
      {"base/5/4294967296", A, {}, 0, {}},  // above 2^32 - 1
      {"base/0/16384", A, {}, 0, {}},
      {"base/x/16384", A, {}, 0, {}},
      {"base/5/sub/16384", A, {}, 0, {}},
      {"base/16384", A, {}, 0, {}},
      {"pg_tblspc/16500/PG_15/5/16390", A, {}, 0, {}},
      {"pg_tblspc/16500/16390", A, {}, 0, {}},
      {"pg_xact/000", A, {}, 0, {}},        // too short
      {"pg_xact/00af", A, {}, 0, {}},       // lower case
      {"pg_xact/1FFFFFFFF", A, {}, 0, {}},  // above 2^32 - 1
      {"pg_multixact/other/0000", A, {}, 0, {}},
      {"pg_subtrans/0000", A, {}, 0, {}},
      {"pg_twophase/000002E4", A, {}, 0, {}},
      {"pg_walx/1", A, {}, 0, {}},
      {"backup_label", A, {}, 0, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    const PgFile f = ClassifyFile(c.path);
    EXPECT_EQ(f.kind, c.kind);
    if (c.kind == R) {
      EXPECT_EQ(f.rel, c.rel);
      EXPECT_EQ(f.segno, c.segno);
    }
    if (c.kind == S) {
      EXPECT_EQ(f.slru, c.slru);
      EXPECT_EQ(f.segno, c.segno);
    }
  }
}

TEST(PgPathTest, DatabaseDirectories) {
  using E = timeline::DbDirEntry;
  EXPECT_EQ(ClassifyDirectory("global"), (E{1664, 0}));
  EXPECT_EQ(ClassifyDirectory("base/1"), (E{1663, 1}));
  EXPECT_EQ(ClassifyDirectory("base/16384"), (E{1663, 16384}));
  EXPECT_EQ(ClassifyDirectory("pg_tblspc/16500/PG_15_202209061/5"), (E{16500, 5}));
  EXPECT_EQ(ClassifyDirectory("base"), std::nullopt);
  EXPECT_EQ(ClassifyDirectory("base/pgsql_tmp"), std::nullopt);
  EXPECT_EQ(ClassifyDirectory("base/0"), std::nullopt);
  EXPECT_EQ(ClassifyDirectory("pg_tblspc/16500"), std::nullopt);
  EXPECT_EQ(ClassifyDirectory("pg_tblspc/16500/PG_15_202209061"), std::nullopt);
  EXPECT_EQ(ClassifyDirectory("pg_xact"), std::nullopt);
  EXPECT_EQ(ClassifyDirectory(""), std::nullopt);
}

TEST(PgPathTest, ParseOidRejectsWhatPostgresNeverWrites) {
  EXPECT_EQ(ParseOid("0"), 0u);
  EXPECT_EQ(ParseOid("16384"), 16384u);
  EXPECT_EQ(ParseOid("4294967295"), 4294967295u);
  EXPECT_EQ(ParseOid("4294967296"), std::nullopt);
  EXPECT_EQ(ParseOid("99999999999"), std::nullopt);
  EXPECT_EQ(ParseOid("01"), std::nullopt);
  EXPECT_EQ(ParseOid(""), std::nullopt);
  EXPECT_EQ(ParseOid("12a"), std::nullopt);
  EXPECT_EQ(ParseOid("-1"), std::nullopt);
}

}  // namespace
}  // namespace pageserver::pg_import
