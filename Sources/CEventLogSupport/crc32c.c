// CRC-32C for RecordBatch v2 checksums.
//
// Hand-written in C because it is the hottest loop of both the append and the read path and Swift has no
// portable access to the CPU's CRC32 instructions. On x86-64 the SSE4.2 `crc32` instruction is run on three
// independent chains over three thirds of each 24 KiB-or-larger block (the instruction has a latency of 3
// cycles and a throughput of 1, so three chains keep the unit busy), and the partial CRCs are merged with a
// carry-less "shift" done by table-free GF(2) multiplication. Smaller inputs use one chain.
#include "CEventLogSupport.h"

#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static int table_ready = 0;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[k][n] = c;
        }
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t eventlog_crc32c_software(uint32_t crc, const void *data, size_t length) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
    while (length && ((uintptr_t)p & 7)) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        length--;
    }
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc;
        crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff] ^ table[5][(word >> 16) & 0xff] ^
              table[4][(word >> 24) & 0xff] ^ table[3][(word >> 32) & 0xff] ^ table[2][(word >> 40) & 0xff] ^
              table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
        p += 8;
        length -= 8;
    }
    while (length--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

// Multiplication in GF(2)[x] modulo the reflected CRC polynomial (bit 31 is x^0).
static uint32_t gf2_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (int i = 0; i < 32; i++) {
        if (a & 0x80000000u) product ^= b;
        a <<= 1;
        b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
    }
    return product;
}

// x^(8*n) mod P in reflected form: the factor that "shifts" a CRC over n zero bytes.
static uint32_t shift_factor(size_t n) {
    uint32_t result = 0x80000000u;  // x^0
    uint32_t square = 0x00800000u;  // x^8
    while (n) {
        if (n & 1) result = gf2_multiply(result, square);
        square = gf2_multiply(square, square);
        n >>= 1;
    }
    return result;
}

#if defined(__x86_64__)
#include <cpuid.h>

static int detect_hardware(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}

__attribute__((target("sse4.2"))) static uint32_t crc_chain(uint32_t crc, const unsigned char *p, size_t n) {
    while (n && ((uintptr_t)p & 7)) {
        crc = __builtin_ia32_crc32qi(crc, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = (uint32_t)__builtin_ia32_crc32di(crc, w);
        p += 8;
        n -= 8;
    }
    while (n--) crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}

enum { STRIDE = 8192 };  // bytes per chain per block
static uint32_t stride_factor;

__attribute__((target("sse4.2"))) static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 3 * STRIDE) {
        // Chain 0 continues the running register; chains 1 and 2 start from a zero register, so that
        // register(A || B) = shift(register(A), |B|) ^ register_from_zero(B).
        uint32_t c0 = crc, c1 = 0, c2 = 0;
        const unsigned char *q = p;
        for (size_t i = 0; i < STRIDE; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, q + i, 8);
            memcpy(&w1, q + STRIDE + i, 8);
            memcpy(&w2, q + 2 * STRIDE + i, 8);
            c0 = (uint32_t)__builtin_ia32_crc32di(c0, w0);
            c1 = (uint32_t)__builtin_ia32_crc32di(c1, w1);
            c2 = (uint32_t)__builtin_ia32_crc32di(c2, w2);
        }
        c0 = gf2_multiply(c0, stride_factor) ^ c1;
        c0 = gf2_multiply(c0, stride_factor) ^ c2;
        crc = c0;
        p += 3 * STRIDE;
        n -= 3 * STRIDE;
    }
    return crc_chain(crc, p, n);
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static int detect_hardware(void) { return 1; }
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = __crc32cd(crc, w);
        p += 8;
        n -= 8;
    }
    while (n--) crc = __crc32cb(crc, *p++);
    return crc;
}
#define NO_STRIDE 1
#else
static int detect_hardware(void) { return 0; }
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    return ~eventlog_crc32c_software(~crc, p, n);
}
#define NO_STRIDE 1
#endif

static int hardware = -1;

static void init(void) {
#ifndef NO_STRIDE
    stride_factor = shift_factor(STRIDE);
#else
    (void)shift_factor;
#endif
    __atomic_store_n(&hardware, detect_hardware(), __ATOMIC_RELEASE);
}

int eventlog_crc32c_is_hardware(void) {
    if (__atomic_load_n(&hardware, __ATOMIC_ACQUIRE) < 0) init();
    return hardware;
}

uint32_t eventlog_crc32c(uint32_t crc, const void *data, size_t length) {
    int hw = __atomic_load_n(&hardware, __ATOMIC_ACQUIRE);
    if (hw < 0) {
        init();
        hw = hardware;
    }
    if (!hw) return eventlog_crc32c_software(crc, data, length);
    return ~crc_hardware(~crc, (const unsigned char *)data, length);
}
