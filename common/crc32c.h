#pragma once

// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected, init and final XOR
// 0xFFFFFFFF: the iSCSI / ext4 / RocksDB checksum), computed by Intel ISA-L
// (Debian libisal), which picks the SSE4.2/PCLMUL kernel at run time.
//
//   Value("123456789") == 0xE3069283                        (the standard check value)
//   Extend(Value("1234"), "56789") == Value("123456789")    (checksums compose)
//
// Thread-safety: pure functions.

#include <cstddef>
#include <cstdint>
#include <span>

namespace pageserver::common::crc32c {

// The checksum of `data` appended to bytes whose checksum is `crc`
// (0 for no bytes).
uint32_t Extend(uint32_t crc, std::span<const std::byte> data);

inline uint32_t Value(std::span<const std::byte> data) { return Extend(0, data); }

}  // namespace pageserver::common::crc32c
