/*
 * float32 baseline: plain loops, as a C compiler sees them (-O2, fpv4-sp-d16).  Whether
 * the multiply-add becomes VFMA is the compiler's choice from -ffp-contract
 * (bench/kernels.py builds it both ways).
 *   dense: x[DENSE_K] times DENSE_N rows; only F32_DENSE_ROWS distinct rows are stored
 *          (DENSE_N rows of float32 do not fit the flash), row n uses stored row
 *          n % F32_DENSE_ROWS: the same instructions and memory accesses per MAC;
 *   conv:  HWC input, W[Cout][K][K][Cin], no padding, stride 1.
 */
#include "bench_common.h"

#ifndef F32_DENSE_ROWS
#define F32_DENSE_ROWS DENSE_N
#endif

extern const float f32_dense_in[], f32_dense_w[], f32_conv_in[], f32_conv_w[];

static float dense_out[DENSE_N];
static float conv_out[CONV_OHW * CONV_OHW * CONV_COUT];

__attribute__((noinline)) void bench_f32_dense(void)
{
    int32_t n, k;
    for (n = 0; n < DENSE_N; ++n) {
        const float *row = f32_dense_w + (n % F32_DENSE_ROWS) * DENSE_K;
        float s = 0.0f;
        for (k = 0; k < DENSE_K; ++k) s += row[k] * f32_dense_in[k];
        dense_out[n] = s;
    }
}

__attribute__((noinline)) void bench_f32_conv(void)
{
    int32_t oy, ox, co, ky, kx, c;
    for (oy = 0; oy < CONV_OHW; ++oy)
        for (ox = 0; ox < CONV_OHW; ++ox)
            for (co = 0; co < CONV_COUT; ++co) {
                const float *w = f32_conv_w + co * CONV_TAPS;
                float s = 0.0f;
                for (ky = 0; ky < CONV_K; ++ky)
                    for (kx = 0; kx < CONV_K; ++kx) {
                        const float *x = f32_conv_in + ((oy + ky) * CONV_HW + ox + kx) * CONV_CIN;
                        for (c = 0; c < CONV_CIN; ++c) s += w[c] * x[c];
                        w += CONV_CIN;
                    }
                conv_out[(oy * CONV_OHW + ox) * CONV_COUT + co] = s;
            }
}

int main(void)
{
    bench_f32_dense();
    bench_f32_conv();
    return bench_report("f32_dense", dense_out, sizeof dense_out)
         | bench_report("f32_conv", conv_out, sizeof conv_out);
}
