/*
 * dispatch.c — choose the kernel table once per process (STYLE.md §9).
 *
 * kite_simd_init() runs probe() exactly once (pthread_once): it asks the CPU
 * (__builtin_cpu_supports, which also checks that the OS saves the YMM/ZMM
 * state) for the best level it can run, then applies KITE_SIMD:
 *
 *   KITE_SIMD unset        -> best available level
 *   KITE_SIMD=scalar|avx2|avx512
 *                          -> that level if the CPU has it; otherwise a warning
 *                             through kite_log and the best available level
 *   anything else          -> warning, best available level
 *
 * Invariants:
 *  1. After kite_simd_init() returns, `active` points at a complete read-only
 *     table and never changes again; readers need no lock (the pthread_once
 *     call orders the write before every read).
 *  2. AVX2 level means AVX2 + FMA + F16C + POPCNT.  AVX-512 level means
 *     AVX-512 F/BW/DQ/VL on top of that; VPOPCNTDQ only picks the flavour of
 *     the binary kernels, not the level.
 */
#include <cpuid.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "simd_internal.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const struct kite_simd_ops *active = &simd_scalar_ops;

/* F16C straight from CPUID leaf 1 (ECX bit 29): clang 14 has no "f16c" cpu_supports name. */
static bool cpu_has_f16c(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return false;
    return (ecx >> 29) & 1u;
}

static bool cpu_has_avx2(void)
{
    __builtin_cpu_init();
    /* avx2 from cpu_supports implies the OS saves YMM state (XGETBV checked) */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c() &&
           __builtin_cpu_supports("popcnt");
}

static bool cpu_has_avx512(void)
{
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

static bool cpu_has_vpopcntdq(void)
{
    return cpu_has_avx512() && __builtin_cpu_supports("avx512vpopcntdq");
}

const struct kite_simd_ops *kite_simd_ops_for(int level)
{
    switch (level) {
    case KITE_SIMD_SCALAR:
        return &simd_scalar_ops;
    case KITE_SIMD_AVX2:
        return cpu_has_avx2() ? &simd_avx2_ops : NULL;
    case KITE_SIMD_AVX512:
        if (!cpu_has_avx512())
            return NULL;
        return cpu_has_vpopcntdq() ? &simd_avx512_ops : &simd_avx512_nopopcnt_ops;
    default:
        return NULL;
    }
}

const char *kite_simd_level_name(int level)
{
    switch (level) {
    case KITE_SIMD_SCALAR:
        return "scalar";
    case KITE_SIMD_AVX2:
        return "avx2";
    case KITE_SIMD_AVX512:
        return "avx512";
    default:
        return "unknown";
    }
}

static int best_level(void)
{
    if (cpu_has_avx512())
        return KITE_SIMD_AVX512;
    if (cpu_has_avx2())
        return KITE_SIMD_AVX2;
    return KITE_SIMD_SCALAR;
}

static void probe(void)
{
    int best = best_level();
    int level = best;
    const char *env = getenv("KITE_SIMD");
    if (env && *env) {
        int want = -1;
        for (int l = KITE_SIMD_SCALAR; l <= KITE_SIMD_AVX512; l++) {
            if (strcmp(env, kite_simd_level_name(l)) == 0)
                want = l;
        }
        if (want < 0) {
            KITE_WARN("KITE_SIMD=%s is not one of scalar|avx2|avx512; using %s", env,
                      kite_simd_level_name(best));
        } else if (want > best) {
            KITE_WARN("KITE_SIMD=%s: this CPU lacks %s; using %s", env, env,
                      kite_simd_level_name(best));
        } else {
            level = want;
        }
    }
    active = kite_simd_ops_for(level);
    KITE_DEBUG("simd: using %s kernels", kite_simd_level_name(level));
}

int kite_simd_init(void)
{
    pthread_once(&once, probe);
    return active->level;
}

const struct kite_simd_ops *kite_simd(void)
{
    pthread_once(&once, probe);
    return active;
}
