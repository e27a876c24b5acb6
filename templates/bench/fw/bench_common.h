/*
 * Shared by the bench firmware: layer shapes (given with -D by bench/kernels.py) and
 * the result report.  Each benched kernel runs in its own noinline function named
 * bench_<kind>_<layer>, whose inclusive cycles the ISS reports; main() then writes the
 * kernel's output to "<name>.out" and prints "<name> <fnv1a-32 of those bytes>" so the
 * host can compare it with a numpy reference.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include "semihost.h"

#if !defined(DENSE_K) || !defined(DENSE_N) || !defined(CONV_HW) || !defined(CONV_CIN) || \
    !defined(CONV_COUT) || !defined(CONV_K)
#error "the bench shapes DENSE_K, DENSE_N, CONV_HW, CONV_CIN, CONV_COUT, CONV_K are given with -D"
#endif
/* convolutions are unpadded, stride 1, dilation 1 */
#define CONV_OHW (CONV_HW - CONV_K + 1)
#define CONV_TAPS (CONV_K * CONV_K * CONV_CIN)

/* FNV-1a, 32 bits, over n bytes */
static inline uint32_t bench_fnv1a(const void *data, uint32_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    uint32_t h = UINT32_C(2166136261);
    uint32_t i;
    for (i = 0; i < n; ++i) h = (h ^ p[i]) * UINT32_C(16777619);
    return h;
}

static inline int bench_report(const char *name, const void *data, uint32_t n)
{
    char file[64];
    unsigned i = 0;
    int out = sh_open(":tt", 4), fd;
    while (name[i] && i < sizeof file - 5) { file[i] = name[i]; ++i; }
    file[i++] = '.'; file[i++] = 'o'; file[i++] = 'u'; file[i++] = 't'; file[i] = 0;
    fd = sh_open(file, 4);
    if (fd < 0 || sh_write(fd, data, n) != 0) return 1;
    sh_close(fd);
    sh_puts(out, name);
    sh_puts(out, " ");
    sh_put_uint(out, bench_fnv1a(data, n));
    sh_puts(out, "\n");
    return 0;
}

#endif
