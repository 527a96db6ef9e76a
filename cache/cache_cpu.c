/* cache_cpu.c - which vector build of XXH3 this CPU and OS can run
 * (cache_xxh.c, cache_xxh512.c), decided once per process.
 *
 * Two CPUID and one XGETBV on first use: not __builtin_cpu_supports, whose
 * libgcc constructor runs some twenty CPUID at load, each one a trap to the
 * hypervisor on a virtual machine (measurable in every process). Compiled
 * for baseline x86-64, apart from the vector builds, so that asking can
 * never itself use an instruction the CPU lacks.
 */
#include <stdint.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

#include "cache_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
static int cpu_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
        return CACHE_VEC_NONE;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX2))
        return CACHE_VEC_NONE;   /* no AVX2, or the OS does not save the YMM registers */
    /* AVX-512F and BW, and the OS saves the opmask and ZMM registers */
    if ((lo & 0xe6) == 0xe6 && (b & bit_AVX512F) && (b & bit_AVX512BW))
        return CACHE_VEC_AVX512;
    return CACHE_VEC_AVX2;
}
#else
static int cpu_probe(void) { return CACHE_VEC_NONE; }
#endif

int cache_cpu_vec(void)
{
    static int vec = -1;         /* not asked yet */
    int v = __atomic_load_n(&vec, __ATOMIC_RELAXED);
    if (v < 0) {
        v = cpu_probe();
        __atomic_store_n(&vec, v, __ATOMIC_RELAXED);
    }
    return v;
}
