/* crc32c.h — CRC-32C (Castagnoli), the checksum of every on-disk record. */
#ifndef KITE_CORE_CRC32C_H
#define KITE_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (start with 0) over len bytes. */
uint32_t kite_crc32c(uint32_t crc, const void *data, size_t len);

#endif
