/*
 * bnn_kernels.h - reference kernels for binarized layers (C99, hand-written).
 *
 * Part of the output of bnncc; model.c defines BNN_WORD_BITS (32 or 64) and
 * BNN_POPCOUNT_SWAR (0 or 1) before including this file.
 *
 * Encoding: bit = 1 means +1, bit = 0 means -1.  Channels are packed LSB first,
 * ceil(C / BNN_WORD_BITS) words per pixel; unused tail bits are 0 everywhere.
 * A ternary tensor (values -1/0/+1) has two planes of equal size: the value plane,
 * then the nonzero plane (bit = 1 where the value is not 0).
 *
 * Identities used (a, w in {-1,+1}^K, q = popcount(a XOR w)):
 *   dot(a, w) = K - 2q                       (bipolar input)
 *   dot(a, w) = popcount(nz) - 2 popcount((a XOR w) AND nz)   (ternary input, padding)
 * where nz marks the inputs that are not 0; zero padding is simply skipped.
 */
#ifndef BNN_KERNELS_H
#define BNN_KERNELS_H

#include <stdint.h>

#if BNN_WORD_BITS == 64
typedef uint64_t bnn_word_t;
#else
typedef uint32_t bnn_word_t;
#endif

#define BNN_WORDS(c) (((c) + BNN_WORD_BITS - 1) / BNN_WORD_BITS)
#define BNN_ACC_DOT 0
#define BNN_ACC_XOR_POPCOUNT 1

/* ---- popcount ------------------------------------------------------------ */
static inline int32_t bnn_popcount(bnn_word_t x)
{
#if BNN_POPCOUNT_SWAR
    /* branch-free SWAR popcount (Hacker's Delight 5-1), no compiler builtins */
#if BNN_WORD_BITS == 64
    x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
    return (int32_t)((x * UINT64_C(0x0101010101010101)) >> 56);
#else
    x = x - ((x >> 1) & UINT32_C(0x55555555));
    x = (x & UINT32_C(0x33333333)) + ((x >> 2) & UINT32_C(0x33333333));
    x = (x + (x >> 4)) & UINT32_C(0x0F0F0F0F);
    return (int32_t)((x * UINT32_C(0x01010101)) >> 24);
#endif
#else
#if BNN_WORD_BITS == 64
    return (int32_t)__builtin_popcountll((unsigned long long)x);
#else
    return (int32_t)__builtin_popcount((unsigned int)x);
#endif
#endif
}

static inline void bnn_clear(bnn_word_t *p, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) p[i] = 0;
}

static inline void bnn_set_bit(bnn_word_t *plane, int32_t wpp, int32_t p, int32_t c)
{
    plane[p * wpp + c / BNN_WORD_BITS] |= (bnn_word_t)1 << (c % BNN_WORD_BITS);
}

/* store value v in {-1, 0, +1} at (p, c): value plane bit = (v > 0); with a nonzero
 * plane, its bit = (v != 0).  The planes must be cleared first. */
static inline void bnn_store_value(bnn_word_t *out, int32_t ternary, int32_t P, int32_t wpp, int32_t p, int32_t c, int32_t v)
{
    if (v > 0) bnn_set_bit(out, wpp, p, c);
    if (ternary && v != 0) bnn_set_bit(out + P * wpp, wpp, p, c);
}

static inline int32_t bnn_get_bit(const bnn_word_t *plane, int32_t wpp, int32_t p, int32_t c)
{
    return (int32_t)((plane[p * wpp + c / BNN_WORD_BITS] >> (c % BNN_WORD_BITS)) & 1u);
}

/* ---- float32 steps -----------------------------------------------------------
 * One float32 operation with a constant per step, rounded each time (the library is
 * built with -ffp-contract=off); constant i of a step is c[i * stride] (stride 0:
 * one value for all elements). */
enum { BNN_ADD, BNN_SUB, BNN_RSUB, BNN_MUL, BNN_DIV, BNN_RDIV, BNN_MAX, BNN_MIN };

typedef struct {
    int32_t op;
    int32_t stride;
    const float *c;
} bnn_step;

static inline float bnn_apply_steps(float v, int32_t i, const bnn_step *steps, int32_t n_steps)
{
    int32_t k;
    for (k = 0; k < n_steps; ++k) {
        const float k_c = steps[k].c[i * steps[k].stride];
        switch (steps[k].op) {
        case BNN_ADD: v = v + k_c; break;
        case BNN_SUB: v = v - k_c; break;
        case BNN_RSUB: v = k_c - v; break;
        case BNN_MUL: v = v * k_c; break;
        case BNN_DIV: v = v / k_c; break;
        case BNN_RDIV: v = k_c / v; break;
        case BNN_MAX: v = v > k_c ? v : k_c; break;
        default: v = v < k_c ? v : k_c; break;
        }
    }
    return v;
}

/* ---- real input: preprocessing into channel-last order ----------------------
 * out[p * C + c] = steps(x[c * P + p]), x in ONNX (NCHW) order. */
static inline void bnn_float_steps(const float *x, int32_t P, int32_t C, const bnn_step *steps, int32_t n_steps, float *out)
{
    int32_t i;
    for (i = 0; i < P * C; ++i) {  /* ONNX order i = c * P + p */
        const int32_t c = i / P, p = i % P;
        out[p * C + c] = bnn_apply_steps(x[i], i, steps, n_steps);
    }
}

/* ---- float input -> binary ------------------------------------------------
 * Element (p, c) of the output (P pixels, C channels, channel-last) reads input
 * x[c * P + p] (ONNX NCHW order; P = 1 for a vector).  Rule r (r = that index, or 0
 * when all elements share one rule): ge_lo = x >= lo, ge_hi = x >= hi,
 * out = dir * (ge_hi + ge_lo - 1), or cval when dir == 0. */
static inline void bnn_binarize_input(const float *x, int32_t P, int32_t C, int32_t per_element,
                               const int8_t *dir, const float *lo, const float *hi, const int8_t *cval,
                               int32_t ternary, bnn_word_t *out)
{
    const int32_t wpp = BNN_WORDS(C);
    int32_t p, c;
    bnn_clear(out, (ternary ? 2 : 1) * P * wpp);
    for (p = 0; p < P; ++p) {
        for (c = 0; c < C; ++c) {
            const int32_t s = c * P + p;
            const int32_t r = per_element ? s : 0;
            const float v = x[s];
            const int32_t o = dir[r] == 0 ? cval[r] : dir[r] * ((v >= hi[r]) + (v >= lo[r]) - 1);
            bnn_store_value(out, ternary, P, wpp, p, c, o);
        }
    }
}

/* ---- binary dense ---------------------------------------------------------
 * in: n_words words per plane (pixels x words-per-pixel of the input map);
 * w: N rows of n_words; K valid input bits.  acc[n] = dot, or q (BNN_ACC_XOR_POPCOUNT). */
static inline void bnn_dense(const bnn_word_t *in, int32_t n_words, int32_t K, int32_t ternary,
                      const bnn_word_t *w, int32_t N, int32_t mode, int32_t *acc)
{
    int32_t n, i;
    const bnn_word_t *nz = in + n_words;
    int32_t valid = K;
    if (ternary) {
        valid = 0;
        for (i = 0; i < n_words; ++i) valid += bnn_popcount(nz[i]);
    }
    for (n = 0; n < N; ++n) {
        const bnn_word_t *row = w + n * n_words;
        int32_t q = 0;
        if (ternary) {
            for (i = 0; i < n_words; ++i) q += bnn_popcount((in[i] ^ row[i]) & nz[i]);
        } else {
            for (i = 0; i < n_words; ++i) q += bnn_popcount(in[i] ^ row[i]);
        }
        acc[n] = mode == BNN_ACC_XOR_POPCOUNT ? q : valid - 2 * q;
    }
}

/* ---- real-input dense: x float32 times ±1 weights (sign bits, K in order) -----
 * acc[n] = (((0 + s_n0 x_0) + s_n1 x_1) + ...), each addition rounded to float32. */
static inline void bnn_dense_f32(const float *x, int32_t K, const bnn_word_t *w, int32_t N, float *acc)
{
    const int32_t wpr = BNN_WORDS(K);
    int32_t n, k;
    for (n = 0; n < N; ++n) {
        const bnn_word_t *row = w + n * wpr;
        float s = 0.0f;
        for (k = 0; k < K; ++k) s += bnn_get_bit(row, 0, 0, k) ? x[k] : -x[k];
        acc[n] = s;
    }
}

/* ---- binary 2-D convolution, channel-last, zero padding skipped ---------- */
typedef struct {
    int32_t H, W, Cin, Cout, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW;
} bnn_conv_shape;

/* real-input convolution: float32 channel-last input, sign bits per tap along Cin,
 * summed over ky, kx, ci in that order; padded taps are skipped */
static inline void bnn_conv2d_f32(const float *in, const bnn_word_t *w, const bnn_conv_shape *s, float *acc)
{
    const int32_t wpp = BNN_WORDS(s->Cin);
    int32_t oy, ox, co, ky, kx, ci;
    for (oy = 0; oy < s->OH; ++oy) {
        for (ox = 0; ox < s->OW; ++ox) {
            for (co = 0; co < s->Cout; ++co) {
                float sum = 0.0f;
                for (ky = 0; ky < s->KH; ++ky) {
                    const int32_t iy = oy * s->SH - s->PT + ky * s->DH;
                    if (iy < 0 || iy >= s->H) continue;
                    for (kx = 0; kx < s->KW; ++kx) {
                        const int32_t ix = ox * s->SW - s->PL + kx * s->DW;
                        const float *a;
                        const bnn_word_t *b;
                        if (ix < 0 || ix >= s->W) continue;
                        a = in + (iy * s->W + ix) * s->Cin;
                        b = w + ((co * s->KH + ky) * s->KW + kx) * wpp;
                        for (ci = 0; ci < s->Cin; ++ci) sum += bnn_get_bit(b, 0, 0, ci) ? a[ci] : -a[ci];
                    }
                }
                acc[(oy * s->OW + ox) * s->Cout + co] = sum;
            }
        }
    }
}

static inline void bnn_conv2d(const bnn_word_t *in, int32_t ternary, const bnn_word_t *w,
                       const bnn_conv_shape *s, int32_t mode, int32_t *acc)
{
    const int32_t wpp = BNN_WORDS(s->Cin);
    const bnn_word_t *nzp = in + s->H * s->W * wpp;
    int32_t oy, ox, co, ky, kx, i;
    for (oy = 0; oy < s->OH; ++oy) {
        for (ox = 0; ox < s->OW; ++ox) {
            for (co = 0; co < s->Cout; ++co) {
                int32_t q = 0, valid = 0;
                for (ky = 0; ky < s->KH; ++ky) {
                    const int32_t iy = oy * s->SH - s->PT + ky * s->DH;
                    if (iy < 0 || iy >= s->H) continue;
                    for (kx = 0; kx < s->KW; ++kx) {
                        const int32_t ix = ox * s->SW - s->PL + kx * s->DW;
                        const bnn_word_t *a, *b, *m;
                        if (ix < 0 || ix >= s->W) continue;
                        a = in + (iy * s->W + ix) * wpp;
                        b = w + ((co * s->KH + ky) * s->KW + kx) * wpp;
                        if (ternary) {
                            m = nzp + (iy * s->W + ix) * wpp;
                            for (i = 0; i < wpp; ++i) {
                                q += bnn_popcount((a[i] ^ b[i]) & m[i]);
                                valid += bnn_popcount(m[i]);
                            }
                        } else {
                            for (i = 0; i < wpp; ++i) q += bnn_popcount(a[i] ^ b[i]);
                            valid += s->Cin;
                        }
                    }
                }
                acc[(oy * s->OW + ox) * s->Cout + co] = mode == BNN_ACC_XOR_POPCOUNT ? q : valid - 2 * q;
            }
        }
    }
}

/* ---- integer thresholds -> binary -----------------------------------------
 * out = dir * ([x >= hi] + [x >= lo] - 1) with lo <= hi; per channel or per element. */
static inline void bnn_threshold(const int32_t *acc, int32_t P, int32_t C, int32_t per_element,
                          const int8_t *dir, const int32_t *lo, const int32_t *hi,
                          int32_t ternary, bnn_word_t *out)
{
    const int32_t wpp = BNN_WORDS(C);
    int32_t p, c;
    bnn_clear(out, (ternary ? 2 : 1) * P * wpp);
    for (p = 0; p < P; ++p) {
        for (c = 0; c < C; ++c) {
            const int32_t r = per_element ? p * C + c : c;
            const int32_t x = acc[p * C + c];
            bnn_store_value(out, ternary, P, wpp, p, c, dir[r] * ((x >= hi[r]) + (x >= lo[r]) - 1));
        }
    }
}

/* the same on the float32 accumulator of a real-input layer (lo, hi may be +-inf) */
static inline void bnn_threshold_f32(const float *acc, int32_t P, int32_t C, int32_t per_element,
                              const int8_t *dir, const float *lo, const float *hi,
                              int32_t ternary, bnn_word_t *out)
{
    const int32_t wpp = BNN_WORDS(C);
    int32_t p, c;
    bnn_clear(out, (ternary ? 2 : 1) * P * wpp);
    for (p = 0; p < P; ++p) {
        for (c = 0; c < C; ++c) {
            const int32_t r = per_element ? p * C + c : c;
            const float x = acc[p * C + c];
            bnn_store_value(out, ternary, P, wpp, p, c, dir[r] * ((x >= hi[r]) + (x >= lo[r]) - 1));
        }
    }
}

/* ---- max/min pooling on bits ----------------------------------------------
 * Per channel, max (bit set in is_max) or min over the valid taps of the window.
 * With pos = +1 and neg = -1 indicators: max = +1 if any pos, -1 if all neg, else 0;
 * min = -1 if any neg, +1 if all pos, else 0. */
typedef struct {
    int32_t H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW;
} bnn_pool_shape;

static inline void bnn_pool_bits(const bnn_word_t *in, int32_t ternary, const bnn_word_t *is_max,
                          const bnn_pool_shape *s, bnn_word_t *out)
{
    const int32_t wpp = BNN_WORDS(s->C);
    const bnn_word_t *nzp = in + s->H * s->W * wpp;
    bnn_word_t *onz = out + s->OH * s->OW * wpp;
    int32_t oy, ox, ky, kx, i;
    for (oy = 0; oy < s->OH; ++oy) {
        for (ox = 0; ox < s->OW; ++ox) {
            for (i = 0; i < wpp; ++i) {
                bnn_word_t or_pos = 0, and_pos = ~(bnn_word_t)0, or_neg = 0, and_neg = ~(bnn_word_t)0;
                const int32_t o = (oy * s->OW + ox) * wpp + i;
                for (ky = 0; ky < s->KH; ++ky) {
                    const int32_t iy = oy * s->SH - s->PT + ky * s->DH;
                    if (iy < 0 || iy >= s->H) continue;
                    for (kx = 0; kx < s->KW; ++kx) {
                        const int32_t ix = ox * s->SW - s->PL + kx * s->DW;
                        bnn_word_t v, m, pos, neg;
                        if (ix < 0 || ix >= s->W) continue;
                        v = in[(iy * s->W + ix) * wpp + i];
                        m = ternary ? nzp[(iy * s->W + ix) * wpp + i] : ~(bnn_word_t)0;
                        pos = v & m;
                        neg = ~v & m;
                        or_pos |= pos;
                        and_pos &= pos;
                        or_neg |= neg;
                        and_neg &= neg;
                    }
                }
                /* every window has a valid tap; the mask keeps tail bits 0 regardless */
                const bnn_word_t tail = (i + 1) * BNN_WORD_BITS <= s->C
                    ? ~(bnn_word_t)0 : (((bnn_word_t)1 << (s->C % BNN_WORD_BITS)) - 1);
                out[o] = ((or_pos & is_max[i]) | (and_pos & ~is_max[i])) & tail;
                if (ternary) onz[o] = (((or_pos | and_neg) & is_max[i]) | ((or_neg | and_pos) & ~is_max[i])) & tail;
            }
        }
    }
}

/* ---- float tail -------------------------------------------------------------
 * Output element i = c * P + p (ONNX order) comes from acc[p * C + c].  (One loop over
 * i: GCC 12's -O1..-O3 miscompiled the two-level p/c nest of this function once it
 * became a separate noinline layer function -- seen on x86-64, gone with -fwrapv or
 * -fno-ivopts; tests/test_property.py is where it showed.) */
static inline void bnn_affine_steps(const int32_t *acc, int32_t P, int32_t C, const float *scale,
                             int32_t scale_stride, const bnn_step *steps, int32_t n_steps, float *out)
{
    int32_t i;
    for (i = 0; i < P * C; ++i) {  /* ONNX order i = c * P + p */
        const int32_t c = i / P, p = i % P;
        out[i] = bnn_apply_steps((float)acc[p * C + c] * scale[i * scale_stride], i, steps, n_steps);
    }
}

/* lut: one row of 2K+1 values per output element, indexed by acc + K */
static inline void bnn_affine_lut(const int32_t *acc, int32_t P, int32_t C, int32_t K, const float *lut, float *out)
{
    int32_t p, c;
    for (p = 0; p < P; ++p) {
        for (c = 0; c < C; ++c) {
            const int32_t i = c * P + p;
            out[i] = lut[i * (2 * K + 1) + acc[p * C + c] + K];
        }
    }
}

/* binary -> float {-level, 0, +level}, ONNX order */
static inline void bnn_unpack(const bnn_word_t *in, int32_t P, int32_t C, int32_t ternary, float level, float *out)
{
    const int32_t wpp = BNN_WORDS(C);
    int32_t p, c;
    for (p = 0; p < P; ++p) {
        for (c = 0; c < C; ++c) {
            const int32_t nzb = ternary ? bnn_get_bit(in + P * wpp, wpp, p, c) : 1;
            out[c * P + p] = nzb ? (bnn_get_bit(in, wpp, p, c) ? level : -level) : 0.0f;
        }
    }
}

/* index of the first maximum (numpy argmax, ONNX TopK k=1) */
static inline int64_t bnn_argmax(const float *v, int32_t n)
{
    int32_t i, best = 0;
    for (i = 1; i < n; ++i)
        if (v[i] > v[best]) best = i;
    return (int64_t)best;
}

#endif /* BNN_KERNELS_H */
