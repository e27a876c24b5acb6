/*
 * Binary layers through the library's own kernels (templates/c/bnn_kernels.h), with
 * the popcount strategy BNN_POPCOUNT (and BNN_HS_BLOCK) given with -D:
 *   dense: DENSE_K bipolar inputs x DENSE_N outputs, acc = K - 2 popcount(x XOR w);
 *   conv:  CONV_K x CONV_K, CONV_CIN -> CONV_COUT channels, CONV_HW x CONV_HW map,
 *          channel-last, no padding, stride 1.
 * Weights and inputs are packed words in flash (bench/kernels.py writes them).
 */
#define BNN_WORD_BITS 32
#include "bnn_kernels.h"
#include "bench_common.h"

extern const bnn_word_t bnn_dense_in[], bnn_dense_w[], bnn_conv_in[], bnn_conv_w[];

static int32_t dense_out[DENSE_N];
static int32_t conv_out[CONV_OHW * CONV_OHW * CONV_COUT];

static const bnn_conv_shape conv_shape = {
    CONV_HW, CONV_HW, CONV_CIN, CONV_COUT, CONV_K, CONV_K, 1, 1, 0, 0, 1, 1, CONV_OHW, CONV_OHW,
};

__attribute__((noinline)) void bench_bnn_dense(void)
{
    bnn_dense(bnn_dense_in, BNN_WORDS(DENSE_K), DENSE_K, 0, bnn_dense_w, DENSE_N, BNN_ACC_DOT, dense_out);
}

__attribute__((noinline)) void bench_bnn_conv(void)
{
    static int32_t runs[3 * CONV_K * CONV_K];
    bnn_conv2d(bnn_conv_in, 0, bnn_conv_w, &conv_shape, BNN_ACC_DOT, conv_out, runs);
}

int main(void)
{
    bench_bnn_dense();
    bench_bnn_conv();
    return bench_report("bnn_dense", dense_out, sizeof dense_out)
         | bench_report("bnn_conv", conv_out, sizeof conv_out);
}
