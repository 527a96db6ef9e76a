/* cache_xxh512.c - XXH3-64 compiled for AVX-512, for the one-shot sums of
 * cache_sum (the first-use check of every piece a reader gets), when the
 * CPU has it (cache_cpu.c).
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

#include "cache_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw")
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX512
#include <xxhash.h>

uint64_t cache_xxh_avx512(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

#else

uint64_t cache_xxh_avx512(const void *p, size_t n) { (void)p; (void)n; return 0; }

#endif
