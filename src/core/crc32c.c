/*
 * crc32c.c — table-driven CRC-32C (slicing-by-8), reflected polynomial 0x82F63B78.
 * Chosen over the SSE4.2 crc32 instruction to keep core free of ISA code;
 * storage checksums are not on the search hot path.
 */
#include "crc32c.h"

#include <pthread.h>

static uint32_t g_table[8][256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        g_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            g_table[t][i] = (g_table[t - 1][i] >> 8) ^ g_table[0][g_table[t - 1][i] & 0xff];
}

uint32_t kite_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&g_once, init_table);
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = g_table[7][lo & 0xff] ^ g_table[6][(lo >> 8) & 0xff] ^
              g_table[5][(lo >> 16) & 0xff] ^ g_table[4][lo >> 24] ^ g_table[3][p[4]] ^
              g_table[2][p[5]] ^ g_table[1][p[6]] ^ g_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ g_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}
