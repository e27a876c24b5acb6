/*
 * int8 baseline in the style of CMSIS-NN's DSP kernels (written for this bench):
 * int8 weights and activations (symmetric, zero offsets), int32 accumulators, no bias
 * or requantization (the binary kernels also stop at their accumulators).
 *
 * Expansion: SXTB16 sign-extends bytes 0 and 2 of a word into two int16 halves;
 * SXTB16 of the word rotated by 8 gives bytes 1 and 3.  Expanding both operands the
 * same way keeps their pairs aligned, so SMLAD (acc + lo*lo + hi*hi) adds two
 * products per instruction:  sum_k w_k x_k = sum over words of
 *   smlad(sxtb16(w), sxtb16(x)) + smlad(sxtb16(w ror 8), sxtb16(x ror 8)).
 * The activations are expanded once into int16 pairs (two words per 4 inputs).
 *
 *   dense: x[DENSE_K] times W[DENSE_N][DENSE_K], two output rows per pass;
 *   conv:  HWC input, W[Cout][K][K][Cin]; im2col of two output pixels into int16 pair
 *          columns, then a 2x2 register-blocked kernel: two output channels x two
 *          pixels, four int32 accumulators.
 */
#include <arm_acle.h>
#include "bench_common.h"

#if DENSE_K % 4 || CONV_CIN % 4 || DENSE_N % 2 || CONV_COUT % 2 || (CONV_OHW * CONV_OHW) % 2
#error "the int8 kernels need K and Cin multiples of 4, even N, Cout and pixel counts"
#endif

extern const int8_t i8_dense_in[], i8_dense_w[], i8_conv_in[], i8_conv_w[];

static int32_t dense_out[DENSE_N];
static int32_t conv_out[CONV_OHW * CONV_OHW * CONV_COUT];
static uint32_t dense_x[DENSE_K / 2];            /* expanded input, int16 pairs */
static uint32_t conv_cols[2][CONV_TAPS / 2];     /* two im2col columns, int16 pairs */

static inline uint32_t load4(const int8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, sizeof v);            /* one LDR (unaligned allowed on M4) */
    return v;
}

/* SXTB16 of v rotated right by 8 (bytes 1 and 3), the rotation folded into the
 * instruction (GCC does not fold a C rotate into it) */
static inline uint32_t sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline uint32_t sxtb16(uint32_t v)
{
    return (uint32_t)__sxtb16((int8x4_t)v);
}

/* 4 int8 -> 2 words of int16 pairs, (b0, b2) then (b1, b3) */
static inline void expand4(const int8_t *src, uint32_t *dst)
{
    const uint32_t v = load4(src);
    dst[0] = sxtb16(v);
    dst[1] = sxtb16_ror8(v);
}

static inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
}

__attribute__((noinline)) void bench_int8_dense(void)
{
    int32_t n, k;
    for (k = 0; k < DENSE_K; k += 4) expand4(i8_dense_in + k, dense_x + k / 2);
    for (n = 0; n < DENSE_N; n += 2) {
        const int8_t *r0 = i8_dense_w + n * DENSE_K, *r1 = r0 + DENSE_K;
        const uint32_t *x = dense_x;
        int32_t a0 = 0, a1 = 0;
        for (k = 0; k < DENSE_K / 4; ++k) {       /* 4 inputs x 2 rows per iteration */
            const uint32_t w0 = load4(r0), w1 = load4(r1);
            const uint32_t xe = x[0], xo = x[1];
            a0 = smlad(sxtb16(w0), xe, a0);
            a1 = smlad(sxtb16(w1), xe, a1);
            a0 = smlad(sxtb16_ror8(w0), xo, a0);
            a1 = smlad(sxtb16_ror8(w1), xo, a1);
            r0 += 4;
            r1 += 4;
            x += 2;
        }
        dense_out[n] = a0;
        dense_out[n + 1] = a1;
    }
}

/* the receptive field of output pixel p (row-major), expanded to int16 pairs */
static void im2col(int32_t p, uint32_t *col)
{
    const int32_t oy = p / CONV_OHW, ox = p % CONV_OHW;
    int32_t ky, kx, c;
    for (ky = 0; ky < CONV_K; ++ky)
        for (kx = 0; kx < CONV_K; ++kx) {
            const int8_t *src = i8_conv_in + ((oy + ky) * CONV_HW + ox + kx) * CONV_CIN;
            for (c = 0; c < CONV_CIN; c += 4) {
                expand4(src + c, col);
                col += 2;
            }
        }
}

/* 2 output channels x 2 pixels: out[p][co..co+1], out[p+1][co..co+1] */
static inline void kernel_2x2(const int8_t *wa, const uint32_t *ca, const uint32_t *cb, int32_t *oa, int32_t *ob)
{
    const int8_t *wb = wa + CONV_TAPS;
    int32_t a_a = 0, a_b = 0, b_a = 0, b_b = 0;   /* channel (a|b), pixel (a|b) */
    int32_t k;
    for (k = 0; k < CONV_TAPS / 4; ++k) {
        const uint32_t va = load4(wa), vb = load4(wb);
        const uint32_t wa_e = sxtb16(va), wa_o = sxtb16_ror8(va);
        const uint32_t wb_e = sxtb16(vb), wb_o = sxtb16_ror8(vb);
        uint32_t c = ca[0];
        a_a = smlad(wa_e, c, a_a);
        b_a = smlad(wb_e, c, b_a);
        c = cb[0];
        a_b = smlad(wa_e, c, a_b);
        b_b = smlad(wb_e, c, b_b);
        c = ca[1];
        a_a = smlad(wa_o, c, a_a);
        b_a = smlad(wb_o, c, b_a);
        c = cb[1];
        a_b = smlad(wa_o, c, a_b);
        b_b = smlad(wb_o, c, b_b);
        wa += 4;
        wb += 4;
        ca += 2;
        cb += 2;
    }
    oa[0] = a_a;
    oa[1] = b_a;
    ob[0] = a_b;
    ob[1] = b_b;
}

__attribute__((noinline)) void bench_int8_conv(void)
{
    int32_t p, co;
    for (p = 0; p < CONV_OHW * CONV_OHW; p += 2) {
        im2col(p, conv_cols[0]);
        im2col(p + 1, conv_cols[1]);
        for (co = 0; co < CONV_COUT; co += 2)
            kernel_2x2(i8_conv_w + co * CONV_TAPS, conv_cols[0], conv_cols[1],
                       conv_out + p * CONV_COUT + co, conv_out + (p + 1) * CONV_COUT + co);
    }
}

int main(void)
{
    bench_int8_dense();
    bench_int8_conv();
    return bench_report("int8_dense", dense_out, sizeof dense_out)
         | bench_report("int8_conv", conv_out, sizeof conv_out);
}
