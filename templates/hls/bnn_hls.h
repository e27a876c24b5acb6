/*
 * bnn_hls.h: the streaming units of bnncc's HLS C++ (Vitis HLS, C++14; also plain g++
 * with ap_int.h and an hls_stream.h for C-simulation).  Hand-written and tested through
 * the generated designs; the generated top.cpp only instantiates these templates with
 * a layer's shape, folding and constants.
 *
 * Streams and encodings (the semantics are those of bnncc's IR, bnncc/ir/interp.py):
 *  - float32 streams carry one element per transfer (graph input: ONNX NCHW order;
 *    a real-valued first layer's input: channel-last order).
 *  - binary streams carry one pixel per transfer: an ap_uint<C * EB> of C elements,
 *    element c in bits [c * EB, (c + 1) * EB).  EB = 1 (bipolar): bit 1 = +1, 0 = -1.
 *    EB = 2 (ternary, ONNX Sign(0) = 0 and zero padding are real): bit 0 = value
 *    (1 = +1), bit 1 = nonzero; a zero element is 00.
 *  - MVAU inputs carry SIMD elements per transfer (ap_uint<SIMD * EB>), columns in the
 *    order of the weight matrix: channel-last for Dense, (ky, kx, ci) for Conv2d.
 *  - accumulator streams (int32_t, the last binary layer's) carry one element per
 *    transfer, channel-last.
 *
 * The sliding window and pooling units keep (KH - 1) * DH + 1 input rows (a line buffer);
 * the units that reorder NCHW <-> channel-last (input, float tail) keep a whole frame.
 */
#ifndef BNN_HLS_H
#define BNN_HLS_H

#include <stdint.h>

#include <ap_int.h>
#include <hls_stream.h>

namespace bnn {

enum AccMode { ACC_DOT = 0, ACC_XOR_POPCOUNT = 1 };
enum StepOp { STEP_ADD, STEP_SUB, STEP_RSUB, STEP_MUL, STEP_DIV, STEP_RDIV, STEP_MAX, STEP_MIN };

/* element i of a word of EB-bit elements, as -1, 0 or +1 */
template <int EB, int W>
inline int get_elem(const ap_uint<W> &word, int i)
{
    const bool val = word[i * EB];
    const bool nz = EB == 2 ? (bool)word[i * EB + 1] : true;
    return nz ? (val ? 1 : -1) : 0;
}

/* store v in {-1, 0, +1} as element i (EB = 1 words can only hold -1 and +1) */
template <int EB, int W>
inline void set_elem(ap_uint<W> &word, int i, int v)
{
    word[i * EB] = v > 0 ? 1 : 0;
    if (EB == 2)
        word[i * EB + 1] = v != 0 ? 1 : 0;
}

/* IR Threshold: dir * ((x >= hi) + (x >= lo) - 1); lo <= hi */
template <typename T>
inline int threshold(T x, T lo, T hi, int dir)
{
    return dir * ((x >= hi ? 1 : 0) + (x >= lo ? 1 : 0) - 1);
}

/* one float32 step of a float tail, rounded to float32 (compile with -ffp-contract=off);
 * max/min as the C backend: v > c ? v : c */
template <int OP>
inline float step(float v, float c)
{
    switch (OP) {
    case STEP_ADD: return v + c;
    case STEP_SUB: return v - c;
    case STEP_RSUB: return c - v;
    case STEP_MUL: return v * c;
    case STEP_DIV: return v / c;
    case STEP_RDIV: return c / v;
    case STEP_MAX: return v > c ? v : c;
    default: return v < c ? v : c;
    }
}

/* ---- BinarizeInput: float frame (ONNX order, element i = c * P + p) -> binary pixels.
 * Rule r = i (PER_ELEMENT) or 0: dir == 0 gives the constant cval, else the threshold. */
template <int P, int C, int EB, int PER_ELEMENT>
void binarize_input(hls::stream<float> &in, hls::stream<ap_uint<C * EB> > &out, const int8_t dir[],
                    const float lo[], const float hi[], const int8_t cval[])
{
    static float frame[P * C];
read_frame:
    for (int i = 0; i < P * C; ++i) {
#pragma HLS PIPELINE II=1
        frame[i] = in.read();
    }
emit_pixels:
    for (int p = 0; p < P; ++p) {
        ap_uint<C * EB> word = 0;
        for (int c = 0; c < C; ++c) {
            const int i = c * P + p;
            const int r = PER_ELEMENT ? i : 0;
            const int v = dir[r] == 0 ? (int)cval[r] : threshold<float>(frame[i], lo[r], hi[r], dir[r]);
            set_elem<EB>(word, c, v);
        }
        out.write(word);
    }
}

/* ---- width converter: a stream of IN_BITS words -> OUT_BITS words, TOTAL_BITS per frame,
 * low bits first (FINN's StreamingDataWidthConverter, for any two widths that divide
 * TOTAL_BITS).  One flat loop, one transfer per iteration (II=1): write when OUT_BITS
 * bits are buffered, else read.  That takes exactly N_IN + N_OUT iterations: a read
 * happens only with fewer than OUT_BITS bits buffered, so once all N_IN words are in,
 * the buffer holds a multiple of OUT_BITS and only writes remain. */
template <int IN_BITS, int OUT_BITS, int TOTAL_BITS>
void width_convert(hls::stream<ap_uint<IN_BITS> > &in, hls::stream<ap_uint<OUT_BITS> > &out)
{
    ap_uint<IN_BITS + OUT_BITS> buf = 0;
    int have = 0;
convert:
    for (int t = 0; t < TOTAL_BITS / IN_BITS + TOTAL_BITS / OUT_BITS; ++t) {
#pragma HLS PIPELINE II=1
        if (have >= OUT_BITS) {
            out.write(buf.range(OUT_BITS - 1, 0));
            buf >>= OUT_BITS;
            have -= OUT_BITS;
        } else {
            const ap_uint<IN_BITS + OUT_BITS> w = in.read();
            buf |= w << have;
            have += IN_BITS;
        }
    }
}

/* ---- line buffers for the window units.  Windows of output row oy cover input rows
 * oy * SH - PT + ky * DH (ky < KH): R = (KH - 1) * DH + 1 consecutive rows, the last one
 * last_row(oy), increasing with oy.  Input row y lives in slot y % R; before output row
 * oy the unit reads input rows up to last_row(oy), so a slot is overwritten (by row
 * y + R > last_row(oy)) only once no later window needs row y.  Rows below every window
 * are read and dropped at the end, so each frame consumes exactly IH * IW pixels. */
template <int KH, int DH>
struct line_rows {
    static const int R = (KH - 1) * DH + 1;
};

/* How a line buffer stores a transfer: as read, or re-encoded from EB_IN- to EB_OUT-bit
 * elements (a sliding window whose zero padding makes a bipolar input ternary). */
struct as_read {
    template <class T>
    static inline T apply(const T &v) { return v; }
};
template <int C, int EB_IN, int EB_OUT>
struct widen {
    static inline ap_uint<C * EB_OUT> apply(const ap_uint<C * EB_IN> &px)
    {
        ap_uint<C * EB_OUT> w = 0;
        for (int c = 0; c < C; ++c)
            set_elem<EB_OUT>(w, c, get_elem<EB_IN>(px, c));
        return w;
    }
};

/* Read input rows (N transfers each) into the line buffer up to row ``last`` (the
 * invariant above); ``next_row`` is the first row not read yet. */
template <int IH, int R, int N, class CONV, class IN, class ROW>
inline void fill_rows(hls::stream<IN> &in, ROW rows[R][N], int &next_row, int last)
{
read_rows:
    while (next_row <= last && next_row < IH) {
        for (int i = 0; i < N; ++i) {
#pragma HLS PIPELINE II=1
            rows[next_row % R][i] = CONV::apply(in.read());
        }
        ++next_row;
    }
}

/* Read and drop the rows below every window, so that a frame consumes IH * N transfers. */
template <int IH, int N, class IN>
inline void drain_rows(hls::stream<IN> &in, int next_row)
{
drain:
    for (; next_row < IH; ++next_row)
        for (int i = 0; i < N; ++i)
            in.read();
}

/* ---- sliding window (FINN ConvolutionInputGenerator): binary pixels in, for every
 * output pixel the KH x KW window in (ky, kx) order, each tap C elements as C / SIMD
 * words of SIMD elements.  Taps in the zero padding are 0 (EB_OUT = 2 then). */
template <int IH, int IW, int C, int EB_IN, int EB_OUT, int KH, int KW, int SH, int SW, int PT, int PL,
          int DH, int DW, int OH, int OW, int SIMD>
void sliding_window(hls::stream<ap_uint<C * EB_IN> > &in, hls::stream<ap_uint<SIMD * EB_OUT> > &out)
{
    const int R = line_rows<KH, DH>::R;
    static ap_uint<C * EB_OUT> rows[R][IW];
    int next_row = 0;
output_rows:
    for (int oy = 0; oy < OH; ++oy) {
        fill_rows<IH, R, IW, widen<C, EB_IN, EB_OUT> >(in, rows, next_row, oy * SH - PT + (KH - 1) * DH);
    windows:
        for (int ox = 0; ox < OW; ++ox) {
            for (int ky = 0; ky < KH; ++ky) {
                for (int kx = 0; kx < KW; ++kx) {
                    const int y = oy * SH - PT + ky * DH, x = ox * SW - PL + kx * DW;
                    const bool inside = y >= 0 && y < IH && x >= 0 && x < IW;
                    const ap_uint<C * EB_OUT> px = inside ? rows[y % R][x] : ap_uint<C * EB_OUT>(0);
                    for (int s = 0; s < C / SIMD; ++s) {
#pragma HLS PIPELINE II=1
                        out.write(px.range((s + 1) * SIMD * EB_OUT - 1, s * SIMD * EB_OUT));
                    }
                }
            }
        }
    }
    drain_rows<IH, IW>(in, next_row);
}

/* the same for a float32 feature map (channel-last, one element per transfer); a padded
 * tap is +0.0f, which the float MVAU adds without effect (its sums start at +0.0f and
 * so are never -0.0f) */
template <int IH, int IW, int C, int KH, int KW, int SH, int SW, int PT, int PL, int DH, int DW, int OH, int OW>
void sliding_window_float(hls::stream<float> &in, hls::stream<float> &out)
{
    const int R = line_rows<KH, DH>::R;
    static float rows[R][IW * C];
    int next_row = 0;
output_rows:
    for (int oy = 0; oy < OH; ++oy) {
        fill_rows<IH, R, IW * C, as_read>(in, rows, next_row, oy * SH - PT + (KH - 1) * DH);
    windows:
        for (int ox = 0; ox < OW; ++ox) {
            for (int ky = 0; ky < KH; ++ky) {
                for (int kx = 0; kx < KW; ++kx) {
                    const int y = oy * SH - PT + ky * DH, x = ox * SW - PL + kx * DW;
                    const bool inside = y >= 0 && y < IH && x >= 0 && x < IW;
                    for (int c = 0; c < C; ++c) {
#pragma HLS PIPELINE II=1
                        out.write(inside ? rows[y % R][x * C + c] : 0.0f);
                    }
                }
            }
        }
    }
    drain_rows<IH, IW * C>(in, next_row);
}

/* ---- XNOR/XOR-popcount of one SIMD-wide column chunk against one weight chunk.
 * ACC_DOT: sum of a_i * w_i with a_i in {-1, 0, +1} (w bit 1 = +1);
 * ACC_XOR_POPCOUNT: popcount(a XOR w) for bipolar a (the IR's q, dot = K - 2q). */
template <int SIMD, int EB, int MODE>
inline int dot_chunk(const ap_uint<SIMD * EB> &a, const ap_uint<SIMD> w)
{
    int acc = 0;
simd:
    for (int i = 0; i < SIMD; ++i) {
#pragma HLS UNROLL
        const bool val = a[i * EB];
        const bool nz = EB == 2 ? (bool)a[i * EB + 1] : true;
        const bool diff = val != (bool)w[i];
        if (MODE == ACC_XOR_POPCOUNT)
            acc += diff ? 1 : 0;
        else
            acc += nz ? (diff ? -1 : 1) : 0;
    }
    return acc;
}

/* One neuron fold of a binary MVAU: acc[pe] = the dot products of output channel
 * nf * PE + pe with the MW inputs, SIMD of them per cycle.  The first fold reads the
 * input vector into inbuf, the others reuse it. */
template <int MW, int MH, int SIMD, int PE, int EB, int MODE, typename WT>
void mvau_fold(hls::stream<ap_uint<SIMD * EB> > &in, ap_uint<SIMD * EB> inbuf[MW / SIMD],
               const WT weights[PE][(MH / PE) * (MW / SIMD)], int nf, int acc[PE])
{
#pragma HLS INLINE
    const int SF = MW / SIMD;
    for (int pe = 0; pe < PE; ++pe)
        acc[pe] = 0;
synapse_folds:
    for (int sf = 0; sf < SF; ++sf) {
#pragma HLS PIPELINE II=1
        if (nf == 0)
            inbuf[sf] = in.read();
        const ap_uint<SIMD * EB> a = inbuf[sf];
        for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
            acc[pe] += dot_chunk<SIMD, EB, MODE>(a, ap_uint<SIMD>(weights[pe][nf * SF + sf]));
        }
    }
}

/* ---- binary matrix-vector-threshold unit (FINN MVAU): MH x MW weights, P output pixels.
 * Neuron n = nf * PE + pe lives in PE row pe (weights[pe][nf * SF + sf] holds columns
 * sf * SIMD .. sf * SIMD + SIMD - 1 of row n, bit i = column sf * SIMD + i, 1 = +1).
 * WT, the type of a weight tile, is the smallest of uint8_t .. uint64_t that holds SIMD
 * bits (ap_uint<SIMD> beyond 64): integer tables keep g++ C-simulation builds fast
 * (tens of thousands of ap_uint constructors are not); bits above SIMD are 0.  Per pixel:
 * NF x SF cycles, PE neurons and SIMD columns each; the input vector is read during
 * the first neuron fold and kept in inbuf.  The accumulators are compared with the
 * thresholds in place (threshold t = nf, or p * NF + nf per element) and the pixel's
 * MH output elements leave as one word. */
template <int MW, int MH, int P, int SIMD, int PE, int EB, int MODE, int EB_OUT, int PER_ELEMENT, int TN, typename WT>
void mvau_threshold(hls::stream<ap_uint<SIMD * EB> > &in, hls::stream<ap_uint<MH * EB_OUT> > &out,
                    const WT weights[PE][(MH / PE) * (MW / SIMD)], const int8_t dir[PE][TN],
                    const int32_t lo[PE][TN], const int32_t hi[PE][TN])
{
    const int NF = MH / PE;
    ap_uint<SIMD * EB> inbuf[MW / SIMD];
pixels:
    for (int p = 0; p < P; ++p) {
        ap_uint<MH * EB_OUT> word = 0;
    neuron_folds:
        for (int nf = 0; nf < NF; ++nf) {
            int acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
            mvau_fold<MW, MH, SIMD, PE, EB, MODE>(in, inbuf, weights, nf, acc);
            for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
                const int t = PER_ELEMENT ? p * NF + nf : nf;
                set_elem<EB_OUT>(word, nf * PE + pe, threshold<int32_t>(acc[pe], lo[pe][t], hi[pe][t], dir[pe][t]));
            }
        }
        out.write(word);
    }
}

/* the same without thresholds: the int32 accumulators leave one per transfer */
template <int MW, int MH, int P, int SIMD, int PE, int EB, int MODE, typename WT>
void mvau_acc(hls::stream<ap_uint<SIMD * EB> > &in, hls::stream<int32_t> &out,
              const WT weights[PE][(MH / PE) * (MW / SIMD)])
{
    const int NF = MH / PE;
    ap_uint<SIMD * EB> inbuf[MW / SIMD];
pixels:
    for (int p = 0; p < P; ++p) {
    neuron_folds:
        for (int nf = 0; nf < NF; ++nf) {
            int acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
            mvau_fold<MW, MH, SIMD, PE, EB, MODE>(in, inbuf, weights, nf, acc);
            for (int pe = 0; pe < PE; ++pe)
                out.write((int32_t)acc[pe]);
        }
    }
}

/* ---- popcount of a 64-bit word (SWAR; synthesises to a small adder tree, and to
 * nothing where an operand is a constant 0) */
inline int popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

/* ---- MST unit: a binary layer whose output channels follow a spanning tree
 * (bnncc/passes/mst_reorder.py derives the identities; hw_sim/fpga/mst.py its cost).
 * All MH channels in parallel; the tree's arrays are constants, so synthesis folds them:
 * a root is an XNOR-popcount tree over the MW columns, a child a popcount tree over its
 * |D| columns plus one adder, chained after its parent.  Per pixel the MW / SIMD input
 * words are gathered into W 64-bit words of values (bit c = column c, 1 = +1) and of
 * nonzero flags V (all MW columns for EB = 1; the nonzero plane of a ternary or padded
 * input).  Channel j, visited in ``order`` (BFS: parents first), with m = mask[j] and
 * c = pat[j]:
 *   x = popcount((a XOR c) AND m AND V)
 *   root (parent[j] < 0; m = every column, c = w_j):          q_j = x
 *   child of p (m = D_j, c = w_p AND D_j, dv = popcount(m AND V)):
 *     plain edge:       q_j = q_p + dv - 2 x
 *     complement edge:  q_j = |V| - q_p - dv + 2 x               (comp[j])
 * ((a XOR w_p) AND D = (a XOR c) AND D since c agrees with w_p on D.)  The result is
 * q = popcount((a XOR w_j) AND V) for every channel, so ACC_XOR_POPCOUNT gives q and
 * ACC_DOT gives |V| - 2 q, the MVAU's accumulators bit for bit. */
template <int MW, int MH, int SIMD, int EB, int MODE, int W>
void mst_pixel(hls::stream<ap_uint<SIMD * EB> > &in, const int16_t order[MH], const int16_t parent[MH],
               const bool comp[MH], const uint64_t pat[MH][W], const uint64_t mask[MH][W], int acc[MH])
{
#pragma HLS INLINE
    uint64_t val[W], nz[W];
#pragma HLS ARRAY_PARTITION variable=val complete
#pragma HLS ARRAY_PARTITION variable=nz complete
    for (int w = 0; w < W; ++w) {
        val[w] = 0;
        nz[w] = 0;
    }
gather:
    for (int sf = 0; sf < MW / SIMD; ++sf) {
#pragma HLS PIPELINE II=1
        const ap_uint<SIMD * EB> a = in.read();
        for (int i = 0; i < SIMD; ++i) {
            const int c = sf * SIMD + i;
            const uint64_t bit = (uint64_t)1 << (c % 64);
            if (a[i * EB])
                val[c / 64] |= bit;
            if (EB == 1 || a[i * EB + 1])
                nz[c / 64] |= bit;
        }
    }
    int nv = 0;
    for (int w = 0; w < W; ++w)
        nv += popcount64(nz[w]);
    int q[MH];
#pragma HLS ARRAY_PARTITION variable=q complete
channels:
    for (int t = 0; t < MH; ++t) {
#pragma HLS UNROLL
        const int j = order[t], p = parent[j];
        int x = 0, dv = 0;
        for (int w = 0; w < W; ++w) {
            x += popcount64((val[w] ^ pat[j][w]) & mask[j][w] & nz[w]);
            dv += popcount64(mask[j][w] & nz[w]);
        }
        q[j] = p < 0 ? x : comp[j] ? nv - q[p] - dv + 2 * x : q[p] + dv - 2 * x;
    }
    for (int j = 0; j < MH; ++j)
        acc[j] = MODE == ACC_XOR_POPCOUNT ? q[j] : nv - 2 * q[j];
}

/* the MST unit with the thresholds in place (as mvau_threshold with PE = MH: threshold
 * t = 0, or p per element) */
template <int MW, int MH, int P, int SIMD, int EB, int MODE, int W, int EB_OUT, int PER_ELEMENT, int TN>
void mst_threshold(hls::stream<ap_uint<SIMD * EB> > &in, hls::stream<ap_uint<MH * EB_OUT> > &out,
                   const int16_t order[MH], const int16_t parent[MH], const bool comp[MH], const uint64_t pat[MH][W],
                   const uint64_t mask[MH][W], const int8_t dir[MH][TN], const int32_t lo[MH][TN],
                   const int32_t hi[MH][TN])
{
pixels:
    for (int p = 0; p < P; ++p) {
        int acc[MH];
        mst_pixel<MW, MH, SIMD, EB, MODE, W>(in, order, parent, comp, pat, mask, acc);
        ap_uint<MH * EB_OUT> word = 0;
        for (int j = 0; j < MH; ++j) {
#pragma HLS UNROLL
            const int t = PER_ELEMENT ? p : 0;
            set_elem<EB_OUT>(word, j, threshold<int32_t>(acc[j], lo[j][t], hi[j][t], dir[j][t]));
        }
        out.write(word);
    }
}

/* the same without thresholds: the int32 accumulators leave one per transfer */
template <int MW, int MH, int P, int SIMD, int EB, int MODE, int W>
void mst_acc(hls::stream<ap_uint<SIMD * EB> > &in, hls::stream<int32_t> &out, const int16_t order[MH],
             const int16_t parent[MH], const bool comp[MH], const uint64_t pat[MH][W], const uint64_t mask[MH][W])
{
pixels:
    for (int p = 0; p < P; ++p) {
        int acc[MH];
        mst_pixel<MW, MH, SIMD, EB, MODE, W>(in, order, parent, comp, pat, mask, acc);
        for (int j = 0; j < MH; ++j)
            out.write((int32_t)acc[j]);
    }
}

/* ---- real-valued first layer (IR acc="float"): acc_n = (((0 + w_n0 x_0) + w_n1 x_1) + ...)
 * in column order, every addition rounded to float32 (w x is x or -x, exact).  The SIMD
 * columns of a cycle are added one after the other, so the order is the IR's for any
 * folding.  Input: one float per transfer, MW per pixel. */
template <int MW, int MH, int SIMD, int PE, typename WT>
inline void float_fold(const float inbuf[MW], const WT weights[PE][(MH / PE) * (MW / SIMD)], int nf,
                       float acc[PE])
{
    const int SF = MW / SIMD;
    for (int pe = 0; pe < PE; ++pe)
        acc[pe] = 0.0f;
synapse_folds:
    for (int sf = 0; sf < SF; ++sf) {
#pragma HLS PIPELINE II=1
        for (int i = 0; i < SIMD; ++i) {
            const float x = inbuf[sf * SIMD + i];
            for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
                acc[pe] = acc[pe] + (ap_uint<SIMD>(weights[pe][nf * SF + sf])[i] ? x : -x);
            }
        }
    }
}

template <int MW, int MH, int P, int SIMD, int PE, int EB_OUT, int PER_ELEMENT, int TN, typename WT>
void mvau_float_threshold(hls::stream<float> &in, hls::stream<ap_uint<MH * EB_OUT> > &out,
                          const WT weights[PE][(MH / PE) * (MW / SIMD)], const int8_t dir[PE][TN],
                          const float lo[PE][TN], const float hi[PE][TN])
{
    const int NF = MH / PE;
    float inbuf[MW];
pixels:
    for (int p = 0; p < P; ++p) {
        for (int k = 0; k < MW; ++k)
            inbuf[k] = in.read();
        ap_uint<MH * EB_OUT> word = 0;
    neuron_folds:
        for (int nf = 0; nf < NF; ++nf) {
            float acc[PE];
            float_fold<MW, MH, SIMD, PE, WT>(inbuf, weights, nf, acc);
            for (int pe = 0; pe < PE; ++pe) {
                const int t = PER_ELEMENT ? p * NF + nf : nf;
                set_elem<EB_OUT>(word, nf * PE + pe, threshold<float>(acc[pe], lo[pe][t], hi[pe][t], dir[pe][t]));
            }
        }
        out.write(word);
    }
}

/* ---- PoolBits: max (is_max[c]) or min over the window of -1/0/+1 elements; padded taps
 * are ignored (ONNX pads MaxPool with -inf); every window has a valid tap.  Line buffer
 * as in sliding_window. */
template <int IH, int IW, int C, int EB, int KH, int KW, int SH, int SW, int PT, int PL, int DH, int DW, int OH,
          int OW>
void pool_bits(hls::stream<ap_uint<C * EB> > &in, hls::stream<ap_uint<C * EB> > &out, const bool is_max[C])
{
    const int R = line_rows<KH, DH>::R;
    static ap_uint<C * EB> rows[R][IW];
    int next_row = 0;
output_rows:
    for (int oy = 0; oy < OH; ++oy) {
        fill_rows<IH, R, IW, as_read>(in, rows, next_row, oy * SH - PT + (KH - 1) * DH);
    windows:
        for (int ox = 0; ox < OW; ++ox) {
            ap_uint<C * EB> word = 0;
            for (int c = 0; c < C; ++c) {
                int m = is_max[c] ? -2 : 2;
                for (int ky = 0; ky < KH; ++ky) {
                    for (int kx = 0; kx < KW; ++kx) {
                        const int y = oy * SH - PT + ky * DH, x = ox * SW - PL + kx * DW;
                        if (y >= 0 && y < IH && x >= 0 && x < IW) {
                            const int v = get_elem<EB>(rows[y % R][x], c);
                            m = is_max[c] ? (v > m ? v : m) : (v < m ? v : m);
                        }
                    }
                }
                set_elem<EB>(word, c, m);
            }
            out.write(word);
        }
    }
    drain_rows<IH, IW>(in, next_row);
}

/* ---- Unpack: binary pixels -> float {-level, 0, +level} in ONNX order (i = c * P + p) */
template <int P, int C, int EB>
void unpack(hls::stream<ap_uint<C * EB> > &in, hls::stream<float> &out, float level)
{
    static ap_uint<C * EB> frame[P];
read_frame:
    for (int p = 0; p < P; ++p)
        frame[p] = in.read();
emit:
    for (int i = 0; i < P * C; ++i) {
#pragma HLS PIPELINE II=1
        const int v = get_elem<EB>(frame[i % P], i / P);
        out.write(v > 0 ? level : v < 0 ? -level : 0.0f);
    }
}

/* ---- ArgMax: index of the first maximum (numpy argmax, ONNX TopK k=1) */
template <int N>
void argmax(hls::stream<float> &in, hls::stream<int64_t> &out)
{
    float best = in.read();
    int64_t at = 0;
scan:
    for (int i = 1; i < N; ++i) {
#pragma HLS PIPELINE II=1
        const float v = in.read();
        if (v > best) {
            best = v;
            at = i;
        }
    }
    out.write(at);
}

}  // namespace bnn

#endif /* BNN_HLS_H */
