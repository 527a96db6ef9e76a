/* cache_xxh512.c - XXH3-64 compiled for AVX-512, for the one-shot sums of
 * cache_sum (the first-use check of every piece a reader gets).
 *
 * Why: that check is the whole difference between a warm read through the
 * shim and a native one (the hash runs on each 128 KiB the program reads,
 * in its buffer). On the reference machine (Xeon with AVX-512BW) a
 * 128 KiB piece takes 2.6 us with AVX-512 against 3.05 us with AVX2 and
 * 6.4 us with Debian's SSE2 libxxhash. XXH3's result does not depend on
 * the vector unit. Streaming sums stay on the AVX2 build (cache_xxh.c).
 */
#include <stddef.h>
#include <stdint.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

#include "cache_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw")
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX512
#include <xxhash.h>

/* On first use, like cache_xxh_avx2_ok: the CPU has AVX-512F and BW and
 * the OS saves the opmask and ZMM registers (XCR0 bits 1, 2, 5, 6, 7). */
int cache_xxh_avx512_ok(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xe6) != 0xe6)
        return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX512F) && (b & bit_AVX512BW);
}

uint64_t cache_xxh_avx512(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

#else

int cache_xxh_avx512_ok(void) { return 0; }
uint64_t cache_xxh_avx512(const void *p, size_t n) { (void)p; (void)n; return 0; }

#endif
