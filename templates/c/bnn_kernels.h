/*
 * bnn_kernels.h - reference kernels for binarized layers (C99, hand-written).
 *
 * Part of the output of bnncc; model.c defines BNN_WORD_BITS (32 or 64) and
 * BNN_POPCOUNT (one of the BNN_POPCOUNT_* strategies below) before including this file.
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

/* ---- popcount strategies ----------------------------------------------------
 * BNN_POPCOUNT selects, at compile time, how the XOR-popcount inner loop counts bits:
 *   BNN_POPCOUNT_BUILTIN      the compiler's __builtin_popcount (a libgcc call on M4)
 *   BNN_POPCOUNT_SWAR         branch-free SWAR popcount per word (Hacker's Delight 5-1)
 *   BNN_POPCOUNT_HARLEY_SEAL  carry-save adders over blocks of BNN_HS_BLOCK (8 or 16)
 *                             words; only the block's top counter is popcounted
 *   BNN_POPCOUNT_USADA8       SWAR down to byte counts, then USADA8 (sum of absolute
 *                             differences against 0) adds the 4 byte counts at once
 * All four give the same integers; only their speed differs. */
#define BNN_POPCOUNT_BUILTIN 0
#define BNN_POPCOUNT_SWAR 1
#define BNN_POPCOUNT_HARLEY_SEAL 2
#define BNN_POPCOUNT_USADA8 3
#ifndef BNN_POPCOUNT
#define BNN_POPCOUNT BNN_POPCOUNT_BUILTIN
#endif
/* 8: best on the cortex-m4 model for convolutions (runs of KW * words-per-pixel words,
 * often < 16) and within 4% of 16 on long dense rows (bench/kernels.py) */
#ifndef BNN_HS_BLOCK
#define BNN_HS_BLOCK 8
#endif
#if BNN_HS_BLOCK != 8 && BNN_HS_BLOCK != 16
#error "BNN_HS_BLOCK must be 8 or 16"
#endif

/* unroll the next loop twice / up to 8 times (GCC and clang; a plain loop elsewhere) */
#if defined(__GNUC__)
#define BNN_UNROLL2 _Pragma("GCC unroll 2")
#define BNN_UNROLL8 _Pragma("GCC unroll 8")
#else
#define BNN_UNROLL2
#define BNN_UNROLL8
#endif

/* the inner-loop helpers below must be inlined: their NULL-pointer arguments select
 * the variant (plain, XOR, masked XOR) at compile time */
#if defined(__GNUC__)
#define BNN_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define BNN_ALWAYS_INLINE static inline
#endif

/* Layer kernels are inlined into their (never inlined) layer function, so every layer
 * runs code specialised on its own constant shapes -- loop bounds, words per pixel,
 * ternary or not -- whatever other layers use the same kernel.  That makes layers
 * faster and their cycle counts a function of their own shapes only (which hw_sim's
 * analytic estimator relies on). */
#define BNN_LAYER_KERNEL BNN_ALWAYS_INLINE

#if BNN_WORD_BITS == 64
#define BNN_W_55 UINT64_C(0x5555555555555555)
#define BNN_W_33 UINT64_C(0x3333333333333333)
#define BNN_W_0F UINT64_C(0x0F0F0F0F0F0F0F0F)
#define BNN_W_01 UINT64_C(0x0101010101010101)
#else
#define BNN_W_55 UINT32_C(0x55555555)
#define BNN_W_33 UINT32_C(0x33333333)
#define BNN_W_0F UINT32_C(0x0F0F0F0F)
#define BNN_W_01 UINT32_C(0x01010101)
#endif

/* SWAR: each 4-bit field of the result holds the popcount (0..4) of that field of x */
BNN_ALWAYS_INLINE bnn_word_t bnn_nibble_counts(bnn_word_t x)
{
    x = x - ((x >> 1) & BNN_W_55);                 /* 2-bit fields: 0..2 */
    return (x & BNN_W_33) + ((x >> 2) & BNN_W_33); /* 4-bit fields: 0..4 */
}

/* SWAR: each byte of the result holds the popcount (0..8) of that byte of x */
BNN_ALWAYS_INLINE bnn_word_t bnn_byte_counts(bnn_word_t x)
{
    x = bnn_nibble_counts(x);
    return (x + (x >> 4)) & BNN_W_0F;              /* bytes: 0..8 */
}

/* sum of the bytes of x, x's bytes summing to < 256 */
BNN_ALWAYS_INLINE int32_t bnn_byte_sum(bnn_word_t x)
{
    return (int32_t)((x * BNN_W_01) >> (BNN_WORD_BITS - 8));
}

/* popcount of one word, branch-free SWAR (also the Harley-Seal counters and tails) */
BNN_ALWAYS_INLINE int32_t bnn_popcount_swar(bnn_word_t x)
{
    return bnn_byte_sum(bnn_byte_counts(x));
}

static inline int32_t bnn_popcount(bnn_word_t x)
{
#if BNN_POPCOUNT == BNN_POPCOUNT_BUILTIN
#if BNN_WORD_BITS == 64
    return (int32_t)__builtin_popcountll((unsigned long long)x);
#else
    return (int32_t)__builtin_popcount((unsigned int)x);
#endif
#else
    return bnn_popcount_swar(x);
#endif
}

/* USADA8 acc + |b0| + |b1| + |b2| + |b3| over the unsigned bytes of x: the sum of
 * the byte counts of x added to acc, one instruction on cores with the DSP extension */
BNN_ALWAYS_INLINE uint32_t bnn_usada8_acc(uint32_t acc, uint32_t x)
{
#if defined(__ARM_FEATURE_SIMD32) && BNN_WORD_BITS == 32
    uint32_t r;
    __asm__("usada8 %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(0u), "r"(acc));
    return r;
#else
    return acc + (x & 0xFFu) + ((x >> 8) & 0xFFu) + ((x >> 16) & 0xFFu) + (x >> 24);
#endif
}

/* acc + the sum of the bytes of x, the bytes of x summing to < 256: USADA8 on cores
 * with the DSP extension, else a multiply */
BNN_ALWAYS_INLINE int32_t bnn_add_byte_sum(int32_t acc, bnn_word_t x)
{
#if defined(__ARM_FEATURE_SIMD32) && BNN_WORD_BITS == 32
    return (int32_t)bnn_usada8_acc((uint32_t)acc, x);
#else
    return acc + bnn_byte_sum(x);
#endif
}

/* the same for any bytes (0..255 each): without USADA8, pairs of bytes are first added
 * into 16-bit fields (<= 510), whose sum (<= 2040) a multiply then gathers */
BNN_ALWAYS_INLINE int32_t bnn_add_wide_byte_sum(int32_t acc, bnn_word_t x)
{
#if defined(__ARM_FEATURE_SIMD32) && BNN_WORD_BITS == 32
    return (int32_t)bnn_usada8_acc((uint32_t)acc, x);
#elif BNN_WORD_BITS == 64
    x = (x & UINT64_C(0x00FF00FF00FF00FF)) + ((x >> 8) & UINT64_C(0x00FF00FF00FF00FF));
    return acc + (int32_t)((x * UINT64_C(0x0001000100010001)) >> 48);
#else
    x = (x & UINT32_C(0x00FF00FF)) + ((x >> 8) & UINT32_C(0x00FF00FF));
    return acc + (int32_t)((x * UINT32_C(0x00010001)) >> 16);
#endif
}

/* Carry-save adder on bit vectors: for bits a, b, c, sum = a ^ b ^ c and
 * carry = (a & b) | (c & (a ^ b)), so a + b + c = 2 carry + sum in every bit position. */
BNN_ALWAYS_INLINE void bnn_csa(bnn_word_t *carry, bnn_word_t *sum, bnn_word_t a, bnn_word_t b, bnn_word_t c)
{
    const bnn_word_t u = a ^ b;
    *carry = (a & b) | (u & c);
    *sum = u ^ c;
}

/* ---- Harley-Seal blocks in ARMv7E-M assembly (Cortex-M4/M7, GCC) ----------------
 * GCC 12 at -O2 keeps too many values live in the C block loop below and spills the
 * input words; this hand-scheduled loop fits the 14 allocatable registers (r0-r12, lr):
 * 7 live (a, b, end, ones, twos, fours, top), 6 temporaries and a register holding 0 (blocks
 * of 16: eights is live too, so the 0 is rebuilt in each block and the last pair loads
 * through 3 temporaries).  Per block of 8 words (the cycles of the Cortex-M4 TRM model,
 * hw_sim/cortexm/timing.py): 4 runs of 4 pipelined loads (5 each), 8 XOR, 7 carry-save
 * adders of 5 instructions (CSA(c, x, y): carry = (c & x) | ((c ^ x) & y), sum =
 * c ^ x ^ y), the SWAR byte counts of the weight-8 carry (9) summed into top by USADA8
 * (1), and the loop test (3 when taken): 76 cycles, 0.30 cycles per bit; 146 per block
 * of 16.  A feed whose counters are all 0 (every dense row) starts with a block whose
 * first adder of each level is a half adder (2 instructions).  Exactly the C loop's
 * integers: the same CSA tree, words in the same order; bnn_pc_feed uses it for the
 * XOR stream (dense and convolution rows, bipolar input) and keeps the C loop for the
 * masked and plain streams and the tail words.  BNN_HS_ASM_BLOCKS(FIRST, a, b, end,
 * ones, twos, fours, eights, top): a < end, end - a a multiple of BNN_HS_BLOCK words,
 * at least 2 blocks when FIRST is BNN_HS_ASM_FIRST; a and b advance to end (b by as
 * much), top (uint32_t) += popcount of each block's top carry (the caller scales top by
 * BNN_HS_BLOCK, as for the C loop); with blocks of 8, eights is untouched.
 * Optimized builds only (__OPTIMIZE__): at -O0, and with -fno-omit-frame-pointer, r7 is
 * taken and GCC rejects the operands ("impossible constraints"); -DBNN_NO_ASM selects the
 * C loop everywhere (needed with -fno-omit-frame-pointer). */
#if defined(__ARM_ARCH_7EM__) && defined(__GNUC__) && defined(__OPTIMIZE__) && BNN_WORD_BITS == 32 \
    && BNN_POPCOUNT == BNN_POPCOUNT_HARLEY_SEAL && !defined(BNN_NO_ASM)
#define BNN_HS_ASM 1
/* two words of a ^ b into t0 and t1 (four loads run pipelined) */
#define BNN_HS_ASM_XOR2                                                            \
    "ldr %[t0], [%[a]], #4\n\t"                                                  \
    "ldr %[t1], [%[a]], #4\n\t"                                                  \
    "ldr %[t2], [%[b]], #4\n\t"                                                  \
    "ldr %[t3], [%[b]], #4\n\t"                                                  \
    "eor %[t0], %[t0], %[t2]\n\t"                                                \
    "eor %[t1], %[t1], %[t3]\n\t"
/* two words of a ^ b into the weight-1 counter %[o]: carry (weight 2) to CARRY */
#define BNN_HS_ASM_PAIR(CARRY)                                                     \
    BNN_HS_ASM_XOR2                                                                \
    "and %[t3], %[o], %[t0]\n\t"                                                 \
    "eor %[t2], %[o], %[t0]\n\t"                                                 \
    "eor %[o], %[t2], %[t1]\n\t"                                                 \
    "and %[t2], %[t2], %[t1]\n\t"                                                \
    "orr " CARRY ", %[t2], %[t3]\n\t"
/* the same into a counter known to be 0 (a feed's first block): a half adder */
#define BNN_HS_ASM_PAIR0(CARRY)                                                    \
    BNN_HS_ASM_XOR2                                                                \
    "eor %[o], %[t0], %[t1]\n\t"                                                 \
    "and " CARRY ", %[t0], %[t1]\n\t"
/* CSA(0, X, Y) into counter C: C = X ^ Y, carry X & Y to X */
#define BNN_HS_ASM_CSA0(C, X, Y)                                                   \
    "eor " C ", " X ", " Y "\n\t"                                                \
    "and " X ", " X ", " Y "\n\t"
/* CSA(C, X, Y) into counter C: carry to X (t3 is scratch) */
#define BNN_HS_ASM_CSA(C, X, Y)                                                    \
    "and %[t3], " C ", " X "\n\t"                                                \
    "eor " X ", " C ", " X "\n\t"                                                \
    "eor " C ", " X ", " Y "\n\t"                                                \
    "and " X ", " X ", " Y "\n\t"                                                \
    "orr " X ", " X ", %[t3]\n\t"
/* top += popcount(t4): SWAR byte counts, summed by USADA8 (t0 is scratch) */
#define BNN_HS_ASM_TOP                                                             \
    "lsr %[t0], %[t4], #1\n\t"                                                 \
    "and %[t0], %[t0], #0x55555555\n\t"                                        \
    "sub %[t4], %[t4], %[t0]\n\t"                                              \
    "lsr %[t0], %[t4], #2\n\t"                                                 \
    "and %[t0], %[t0], #0x33333333\n\t"                                        \
    "and %[t4], %[t4], #0x33333333\n\t"                                        \
    "add %[t4], %[t4], %[t0]\n\t"                                              \
    "add %[t4], %[t4], %[t4], lsr #4\n\t"                                      \
    "and %[t4], %[t4], #0x0f0f0f0f\n\t"                                        \
    BNN_HS_ASM_ZERO                                                            \
    "usada8 %[top], %[t4], " BNN_HS_ASM_Z ", %[top]\n\t"
#define BNN_HS_ASM_BLOCKS(FIRST, a_, b_, end_, ones_, twos_, fours_, eights_, top_) \
    do {                                                                           \
        uint32_t bnn_t0, bnn_t1, bnn_t2, bnn_t3, bnn_t4, bnn_t5;                   \
        __asm__ __volatile__(                                                      \
            FIRST                                                                  \
            "1:\n\t"                                                               \
            BNN_HS_ASM_TREE                                                        \
            BNN_HS_ASM_TOP                                                         \
            "cmp %[a], %[end]\n\t"                                                 \
            "bne 1b\n\t"                                                           \
            : [a] "+&r"(a_), [b] "+&r"(b_), [o] "+&r"(ones_), [w] "+&r"(twos_),   \
              [f] "+&r"(fours_), [top] "+&r"(top_), [t0] "=&r"(bnn_t0),            \
              [t1] "=&r"(bnn_t1), [t2] "=&r"(bnn_t2), [t3] "=&r"(bnn_t3),          \
              [t4] "=&r"(bnn_t4), [t5] "=&r"(bnn_t5) BNN_HS_ASM_EIGHTS(eights_)     \
            : [end] "r"(end_) BNN_HS_ASM_ZERO_IN                                   \
            : "cc", "memory");                                                     \
        (void)(eights_);                                                           \
    } while (0)
/* 8 words: the weight-8 carry ends in t4.  PAIR1 and CSA1 are the first adders into the
 * ones and twos counters (half adders where those are known to be 0), LAST the adder
 * into the fours counter */
#define BNN_HS_ASM_TREE8_WITH(PAIR1, CSA1, LAST)                                   \
    PAIR1("%[t4]")                                /* twos_a */                     \
    BNN_HS_ASM_PAIR("%[t2]")                      /* twos_b */                     \
    CSA1("%[w]", "%[t4]", "%[t2]")                /* fours_a */                    \
    BNN_HS_ASM_PAIR("%[t5]")                      /* twos_a */                     \
    BNN_HS_ASM_PAIR("%[t2]")                      /* twos_b */                     \
    BNN_HS_ASM_CSA("%[w]", "%[t5]", "%[t2]")      /* fours_b */                    \
    LAST("%[f]", "%[t4]", "%[t5]")                /* eights_a */
#define BNN_HS_ASM_TREE8 BNN_HS_ASM_TREE8_WITH(BNN_HS_ASM_PAIR, BNN_HS_ASM_CSA, BNN_HS_ASM_CSA)
/* the first block of a feed whose counters are all 0 (a dense row): the first adder of
 * each level is a half adder, 9 instructions fewer (12 with blocks of 16); then the
 * loop for the other blocks (there is at least one more: see bnn_pc_feed) */
#define BNN_HS_ASM_TREE8_FIRST(LAST) BNN_HS_ASM_TREE8_WITH(BNN_HS_ASM_PAIR0, BNN_HS_ASM_CSA0, LAST)
#if BNN_HS_BLOCK == 8
#define BNN_HS_ASM_TREE BNN_HS_ASM_TREE8
#define BNN_HS_ASM_FIRST BNN_HS_ASM_TREE8_FIRST(BNN_HS_ASM_CSA0) BNN_HS_ASM_TOP
#define BNN_HS_ASM_EIGHTS(var)
/* a 14th register holds the 0 that USADA8 subtracts */
#define BNN_HS_ASM_ZERO
#define BNN_HS_ASM_ZERO_IN , [z] "r"(0u)
#define BNN_HS_ASM_Z "%[z]"
#else
/* 16 words: the second half of the tree holds eights_a (t4) and fours_a (t5) and, for
 * the last pair, twos_a (t2), so that pair loads through 3 temporaries (a, b, a, b:
 * one cycle more); the weight-16 carry ends in t4.  eights (%[e]) makes 14 operands:
 * GCC also allocates lr. */
#define BNN_HS_ASM_TREE BNN_HS_ASM_TREE8 BNN_HS_ASM_SECOND_HALF(BNN_HS_ASM_CSA)
#define BNN_HS_ASM_SECOND_HALF(LAST)                                               \
    BNN_HS_ASM_PAIR("%[t5]")                      /* twos_a */                     \
    BNN_HS_ASM_PAIR("%[t2]")                      /* twos_b */                     \
    BNN_HS_ASM_CSA("%[w]", "%[t5]", "%[t2]")      /* fours_a */                    \
    BNN_HS_ASM_PAIR("%[t2]")                      /* twos_a */                     \
    "ldr %[t0], [%[a]], #4\n\t"                                                  \
    "ldr %[t1], [%[b]], #4\n\t"                                                  \
    "ldr %[t3], [%[a]], #4\n\t"                                                  \
    "eor %[t0], %[t0], %[t1]\n\t"                                                \
    "ldr %[t1], [%[b]], #4\n\t"                                                  \
    "eor %[t1], %[t3], %[t1]\n\t"                                                \
    BNN_HS_ASM_CSA("%[o]", "%[t0]", "%[t1]")      /* twos_b */                     \
    BNN_HS_ASM_CSA("%[w]", "%[t2]", "%[t0]")      /* fours_b */                    \
    BNN_HS_ASM_CSA("%[f]", "%[t5]", "%[t2]")      /* eights_b */                   \
    LAST("%[e]", "%[t4]", "%[t5]")                /* sixteens */
#define BNN_HS_ASM_FIRST                                                           \
    BNN_HS_ASM_TREE8_FIRST(BNN_HS_ASM_CSA0)                                        \
    BNN_HS_ASM_SECOND_HALF(BNN_HS_ASM_CSA0) BNN_HS_ASM_TOP
#define BNN_HS_ASM_EIGHTS(var) , [e] "+&r"(var)
/* no register left for a constant 0: t0 is zeroed in every block */
#define BNN_HS_ASM_ZERO "mov %[t0], #0\n\t"
#define BNN_HS_ASM_ZERO_IN
#define BNN_HS_ASM_Z "%[t0]"
#endif
#else
#define BNN_HS_ASM 0
#endif

/* Popcount accumulator over a stream of words fed in pieces (the taps of a
 * convolution), so Harley-Seal keeps its counters across the pieces.  Invariant:
 * bits counted = n + 16 pc(sixteens fed to n) + 8 pc(eights) + 4 pc(fours)
 *                + 2 pc(twos) + pc(ones), see bnn_pc_total. */
typedef struct {
    bnn_word_t ones, twos, fours, eights;
    int32_t n;
} bnn_pc_acc;

BNN_ALWAYS_INLINE void bnn_pc_init(bnn_pc_acc *s)
{
    s->ones = s->twos = s->fours = s->eights = 0;
    s->n = 0;
}

BNN_ALWAYS_INLINE int32_t bnn_pc_total(const bnn_pc_acc *s)
{
#if BNN_POPCOUNT == BNN_POPCOUNT_HARLEY_SEAL
    /* 8 pc(eights) + 4 pc(fours) + 2 pc(twos) + pc(ones) in one SWAR pass: nibble counts
     * of ones + 2 twos (<= 12 per nibble), their bytes (<= 24) plus 4 and 8 times the byte
     * counts of fours and eights: <= 120 per byte, then one byte sum */
    const bnn_word_t low = bnn_nibble_counts(s->ones) + (bnn_nibble_counts(s->twos) << 1);
    const bnn_word_t bytes = (low & BNN_W_0F) + ((low >> 4) & BNN_W_0F)
                           + (bnn_byte_counts(s->fours) << 2) + (bnn_byte_counts(s->eights) << 3);
    return bnn_add_wide_byte_sum(s->n, bytes);
#else
    return s->n;
#endif
}

/* what a stream word is: a[i], a[i] ^ b[i] (BNN_PC_XOR), masked by m[i] (BNN_PC_MASK);
 * a compile-time constant at every call, so the selection costs nothing */
#define BNN_PC_PLAIN 0
#define BNN_PC_XOR 1
#define BNN_PC_MASK 2
#define BNN_PC_WORD(i) ((kind & BNN_PC_XOR ? a[i] ^ b[i] : a[i]) & (kind & BNN_PC_MASK ? m[i] : ~(bnn_word_t)0))
/* move the stream on by k words (unused pointers are not touched) */
#define BNN_PC_ADVANCE(k) (a += (k), b = kind & BNN_PC_XOR ? b + (k) : b, m = kind & BNN_PC_MASK ? m + (k) : m, n -= (k))

/* The strategy, in one place: add popcount(BNN_PC_WORD(i)) for i < n to s. */
BNN_ALWAYS_INLINE void bnn_pc_feed(bnn_pc_acc *s, int32_t kind, const bnn_word_t *a, const bnn_word_t *b,
                                   const bnn_word_t *m, int32_t n)
{
    int32_t i;
#if BNN_POPCOUNT == BNN_POPCOUNT_HARLEY_SEAL
    /* Harley-Seal: per block, CSAs fold BNN_HS_BLOCK words into ones/twos/fours/eights
     * (and a carry out of weight 16 or 8 whose popcount is added, scaled, to n).
     * Total popcount = 16 pc(sixteens) + 8 pc(eights) + 4 pc(fours) + 2 pc(twos) + pc(ones). */
    bnn_word_t ones = s->ones, twos = s->twos, fours = s->fours, eights = s->eights;
    int32_t top = 0;
#if BNN_HS_ASM
    /* from 2 blocks on: a lone block (a 3x3 convolution's row of 12 words) is faster
     * in C, scheduled by GCC with the code around it (bench/kernels.py) */
    if (kind == BNN_PC_XOR && n >= 2 * BNN_HS_BLOCK) {
        const int32_t nb = n / BNN_HS_BLOCK;
        uint32_t utop = 0;
        if ((ones | twos | fours | eights) == 0) /* a constant where the state is (dense rows) */
            BNN_HS_ASM_BLOCKS(BNN_HS_ASM_FIRST, a, b, a + nb * BNN_HS_BLOCK, ones, twos, fours, eights, utop);
        else
            BNN_HS_ASM_BLOCKS("", a, b, a + nb * BNN_HS_BLOCK, ones, twos, fours, eights, utop);
        /* a and b moved on by nb blocks */
        n -= nb * BNN_HS_BLOCK;
        top = (int32_t)utop;
    }
#endif
    BNN_UNROLL2
    for (; n >= BNN_HS_BLOCK; BNN_PC_ADVANCE(BNN_HS_BLOCK)) {
        bnn_word_t twos_a, twos_b, fours_a, fours_b, eights_a;
        bnn_csa(&twos_a, &ones, ones, BNN_PC_WORD(0), BNN_PC_WORD(1));
        bnn_csa(&twos_b, &ones, ones, BNN_PC_WORD(2), BNN_PC_WORD(3));
        bnn_csa(&fours_a, &twos, twos, twos_a, twos_b);
        bnn_csa(&twos_a, &ones, ones, BNN_PC_WORD(4), BNN_PC_WORD(5));
        bnn_csa(&twos_b, &ones, ones, BNN_PC_WORD(6), BNN_PC_WORD(7));
        bnn_csa(&fours_b, &twos, twos, twos_a, twos_b);
#if BNN_HS_BLOCK == 8
        bnn_csa(&eights_a, &fours, fours, fours_a, fours_b);
        top = bnn_add_byte_sum(top, bnn_byte_counts(eights_a));    /* weight 8 */
#else
        {
            bnn_word_t eights_b, sixteens;
            bnn_csa(&eights_a, &fours, fours, fours_a, fours_b);
            bnn_csa(&twos_a, &ones, ones, BNN_PC_WORD(8), BNN_PC_WORD(9));
            bnn_csa(&twos_b, &ones, ones, BNN_PC_WORD(10), BNN_PC_WORD(11));
            bnn_csa(&fours_a, &twos, twos, twos_a, twos_b);
            bnn_csa(&twos_a, &ones, ones, BNN_PC_WORD(12), BNN_PC_WORD(13));
            bnn_csa(&twos_b, &ones, ones, BNN_PC_WORD(14), BNN_PC_WORD(15));
            bnn_csa(&fours_b, &twos, twos, twos_a, twos_b);
            bnn_csa(&eights_b, &fours, fours, fours_a, fours_b);
            bnn_csa(&sixteens, &eights, eights, eights_a, eights_b);
            top = bnn_add_byte_sum(top, bnn_byte_counts(sixteens)); /* weight 16 */
        }
#endif
    }
    s->n += BNN_HS_BLOCK * top;
    s->ones = ones;
    s->twos = twos;
    s->fours = fours;
    s->eights = eights;
    for (i = 0; i < n; ++i) s->n = bnn_add_byte_sum(s->n, bnn_byte_counts(BNN_PC_WORD(i)));
#elif BNN_POPCOUNT == BNN_POPCOUNT_USADA8 && BNN_WORD_BITS == 32
    /* pairs of words: 4-bit field counts (0..4 each) of both words added (0..8), then
     * to byte counts (0..16), then USADA8 adds the 4 bytes to the total */
    uint32_t acc = (uint32_t)s->n;
    for (; n >= 2; BNN_PC_ADVANCE(2)) {
        uint32_t x = BNN_PC_WORD(0), y = BNN_PC_WORD(1);
        x = x - ((x >> 1) & BNN_W_55);
        y = y - ((y >> 1) & BNN_W_55);
        x = (x & BNN_W_33) + ((x >> 2) & BNN_W_33) + (y & BNN_W_33) + ((y >> 2) & BNN_W_33);
        acc = bnn_usada8_acc(acc, (x & BNN_W_0F) + ((x >> 4) & BNN_W_0F));
    }
    if (n > 0) acc = bnn_usada8_acc(acc, bnn_byte_counts(BNN_PC_WORD(0)));
    s->n = (int32_t)acc;
    (void)i;
#elif BNN_POPCOUNT == BNN_POPCOUNT_USADA8
    /* 64-bit words (host): byte counts summed by multiplication */
    for (i = 0; i < n; ++i) s->n += bnn_popcount_swar(BNN_PC_WORD(i));
#else
    for (i = 0; i < n; ++i) s->n += bnn_popcount(BNN_PC_WORD(i));
#endif
}

/* sum over i < n of popcount(a[i] ^ b[i]) */
BNN_ALWAYS_INLINE int32_t bnn_xor_popcount(const bnn_word_t *a, const bnn_word_t *b, int32_t n)
{
    bnn_pc_acc s;
    bnn_pc_init(&s);
    bnn_pc_feed(&s, BNN_PC_XOR, a, b, (const bnn_word_t *)0, n);
    return bnn_pc_total(&s);
}

/* sum over i < n of popcount((a[i] ^ b[i]) & m[i]) */
BNN_ALWAYS_INLINE int32_t bnn_xor_popcount_masked(const bnn_word_t *a, const bnn_word_t *b,
                                                  const bnn_word_t *m, int32_t n)
{
    bnn_pc_acc s;
    bnn_pc_init(&s);
    bnn_pc_feed(&s, BNN_PC_XOR | BNN_PC_MASK, a, b, m, n);
    return bnn_pc_total(&s);
}

/* sum over i < n of popcount(a[i]) */
BNN_ALWAYS_INLINE int32_t bnn_popcount_words(const bnn_word_t *a, int32_t n)
{
    bnn_pc_acc s;
    bnn_pc_init(&s);
    bnn_pc_feed(&s, BNN_PC_PLAIN, a, (const bnn_word_t *)0, (const bnn_word_t *)0, n);
    return bnn_pc_total(&s);
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

/* Always inlined: a layer's steps are a constant table, so GCC unrolls the loop and
 * folds the switch into the layer's straight-line float code. */
BNN_ALWAYS_INLINE float bnn_apply_steps(float v, int32_t i, const bnn_step *steps, int32_t n_steps)
{
    int32_t k;
    BNN_UNROLL8
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
BNN_LAYER_KERNEL void bnn_float_steps(const float *x, int32_t P, int32_t C, const bnn_step *steps, int32_t n_steps, float *out)
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
BNN_LAYER_KERNEL void bnn_binarize_input(const float *x, int32_t P, int32_t C, int32_t per_element,
                               const int8_t *dir, const float *lo, const float *hi, const int8_t *cval,
                               int32_t ternary, bnn_word_t *out)
{
    const int32_t wpp = BNN_WORDS(C);
    int32_t p, j, b;
    for (p = 0; p < P; ++p) {
        for (j = 0; j < wpp; ++j) {  /* one output word at a time, built in registers */
            const int32_t c0 = j * BNN_WORD_BITS;
            const int32_t nb = C - c0 < BNN_WORD_BITS ? C - c0 : BNN_WORD_BITS;
            bnn_word_t val = 0, nz = 0;
            for (b = 0; b < nb; ++b) {
                const int32_t s = (c0 + b) * P + p;
                const int32_t r = per_element ? s : 0;
                const float v = x[s];
                const int32_t o = dir[r] == 0 ? cval[r] : dir[r] * ((v >= hi[r]) + (v >= lo[r]) - 1);
                val |= (bnn_word_t)(o > 0) << b;
                nz |= (bnn_word_t)(o != 0) << b;
            }
            out[p * wpp + j] = val;
            if (ternary) out[(P + p) * wpp + j] = nz;
        }
    }
}

/* ---- binary dense ---------------------------------------------------------
 * in: n_words words per plane (pixels x words-per-pixel of the input map);
 * w: N rows of n_words; K valid input bits.  acc[n] = dot, or q (BNN_ACC_XOR_POPCOUNT). */
BNN_LAYER_KERNEL void bnn_dense(const bnn_word_t *in, int32_t n_words, int32_t K, int32_t ternary,
                      const bnn_word_t *w, int32_t N, int32_t mode, int32_t *acc)
{
    int32_t n;
    const bnn_word_t *nz = in + n_words;
    const int32_t valid = ternary ? bnn_popcount_words(nz, n_words) : K;
    for (n = 0; n < N; ++n) {
        const bnn_word_t *row = w + n * n_words;
        const int32_t q = ternary ? bnn_xor_popcount_masked(in, row, nz, n_words)
                                  : bnn_xor_popcount(in, row, n_words);
        acc[n] = mode == BNN_ACC_XOR_POPCOUNT ? q : valid - 2 * q;
    }
}

/* ---- real-input dense: x float32 times ±1 weights (sign bits, K in order) -----
 * acc[n] = (((0 + s_n0 x_0) + s_n1 x_1) + ...), each addition rounded to float32. */
BNN_LAYER_KERNEL void bnn_dense_f32(const float *x, int32_t K, const bnn_word_t *w, int32_t N, float *acc)
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
 * summed over ky, kx, ci in that order; padded taps are skipped.  The taps of a window
 * that lie in the map form a rectangle (rows ky0..ky1-1, columns kx0..kx1-1), found
 * once per pixel, so the output channels loop over valid taps only; a window wholly
 * inside the map takes the same loop with the layer's constant bounds. */
#define BNN_CONV_F32_WINDOW(KY0, KY1, KX0, KX1)                                                  \
    for (co = 0; co < s->Cout; ++co) {                                                            \
        const bnn_word_t *wc = w + co * s->KH * s->KW * wpp;                                      \
        float sum = 0.0f;                                                                         \
        for (ky = (KY0); ky < (KY1); ++ky) {                                                      \
            const float *a = in + ((iy0 + ky * s->DH) * s->W + ix0 + (KX0) * s->DW) * s->Cin;     \
            const bnn_word_t *b = wc + (ky * s->KW + (KX0)) * wpp;                                \
            for (kx = (KX0); kx < (KX1); ++kx, a += tap_in, b += wpp)                             \
                for (ci = 0; ci < s->Cin; ++ci) sum += bnn_get_bit(b, 0, 0, ci) ? a[ci] : -a[ci]; \
        }                                                                                         \
        acc[(oy * s->OW + ox) * s->Cout + co] = sum;                                              \
    }

BNN_LAYER_KERNEL void bnn_conv2d_f32(const float *in, const bnn_word_t *w, const bnn_conv_shape *s, float *acc)
{
    const int32_t wpp = BNN_WORDS(s->Cin), tap_in = s->DW * s->Cin;
    int32_t oy, ox, co, ky, kx, ci;
    for (oy = 0; oy < s->OH; ++oy) {
        const int32_t iy0 = oy * s->SH - s->PT;
        int32_t ky0 = 0, ky1 = s->KH;
        while (ky0 < ky1 && iy0 + ky0 * s->DH < 0) ++ky0;
        while (ky1 > ky0 && iy0 + (ky1 - 1) * s->DH >= s->H) --ky1;
        for (ox = 0; ox < s->OW; ++ox) {
            const int32_t ix0 = ox * s->SW - s->PL;
            int32_t kx0 = 0, kx1 = s->KW;
            while (kx0 < kx1 && ix0 + kx0 * s->DW < 0) ++kx0;
            while (kx1 > kx0 && ix0 + (kx1 - 1) * s->DW >= s->W) --kx1;
            if (ky0 == 0 && ky1 == s->KH && kx0 == 0 && kx1 == s->KW) {
                BNN_CONV_F32_WINDOW(0, s->KH, 0, s->KW)
            } else {
                BNN_CONV_F32_WINDOW(ky0, ky1, kx0, kx1)
            }
        }
    }
}
#undef BNN_CONV_F32_WINDOW

/* A pixel's receptive field as runs of words: (input word offset, weight word offset,
 * words).  A kernel row whose KW taps all lie inside the map (dilation 1) is KW * wpp
 * contiguous words in both the input and the weights, so it is one run (Harley-Seal
 * blocks then span its taps); at the edges every in-map tap is a run of wpp words.
 * Returns the number of runs (at most KH * KW) and sets *valid to the number of valid
 * inputs: Cin per in-map tap, or the nonzero bits there (ternary). */
BNN_ALWAYS_INLINE int32_t bnn_conv_runs(const bnn_word_t *nzp, int32_t ternary, const bnn_conv_shape *s,
                                    int32_t oy, int32_t ox, int32_t *runs, int32_t *valid)
{
    const int32_t wpp = BNN_WORDS(s->Cin);
    const int32_t ix0 = ox * s->SW - s->PL;
    const int32_t row_inside = s->DW == 1 && ix0 >= 0 && ix0 + s->KW <= s->W;
    int32_t ky, kx, n = 0, v = 0;
    for (ky = 0; ky < s->KH; ++ky) {
        const int32_t iy = oy * s->SH - s->PT + ky * s->DH;
        if (iy < 0 || iy >= s->H) continue;
        for (kx = 0; kx < s->KW; ++kx) {
            const int32_t ix = ix0 + kx * s->DW;
            const int32_t len = row_inside ? s->KW * wpp : wpp;
            if (ix < 0 || ix >= s->W) continue;
            runs[3 * n] = (iy * s->W + ix) * wpp;
            runs[3 * n + 1] = (ky * s->KW + kx) * wpp;
            runs[3 * n + 2] = len;
            v += ternary ? bnn_popcount_words(nzp + runs[3 * n], len) : (len / wpp) * s->Cin;
            ++n;
            if (row_inside) break;
        }
    }
    *valid = v;
    return n;
}

/* XOR-popcount of one output channel's weights (wco) over a pixel's runs.  A run is a
 * whole kernel row (KW * wpp words) or one tap (wpp words): both lengths are constants of
 * the layer, so each feed is the layer's specialised loop. */
BNN_ALWAYS_INLINE int32_t bnn_conv_q(int32_t kind, const bnn_word_t *in, const bnn_word_t *nzp,
                                     const bnn_word_t *wco, const int32_t *runs, int32_t n_runs,
                                     const bnn_conv_shape *s)
{
    const int32_t wpp = BNN_WORDS(s->Cin), row = s->KW * wpp;
    int32_t r;
    bnn_pc_acc acc;
    bnn_pc_init(&acc);
    for (r = 0; r < n_runs; ++r) {
        const int32_t *run = runs + 3 * r;
        const bnn_word_t *m = kind & BNN_PC_MASK ? nzp + run[0] : nzp;
        if (run[2] == row)
            bnn_pc_feed(&acc, kind, in + run[0], wco + run[1], m, row);
        else
            bnn_pc_feed(&acc, kind, in + run[0], wco + run[1], m, wpp);
    }
    return bnn_pc_total(&acc);
}

/* The same over a window wholly inside the map with dilation 1 along x: KH rows of
 * KW * wpp words, the first at input word offset base (the interior pixels' fast path:
 * every offset is a constant of the layer). */
BNN_ALWAYS_INLINE int32_t bnn_conv_q_inside(int32_t kind, const bnn_word_t *in, const bnn_word_t *nzp,
                                            const bnn_word_t *wco, int32_t base, const bnn_conv_shape *s)
{
    const int32_t wpp = BNN_WORDS(s->Cin), row = s->KW * wpp;
    int32_t ky;
    bnn_pc_acc acc;
    bnn_pc_init(&acc);
    for (ky = 0; ky < s->KH; ++ky) {
        const int32_t o = base + ky * s->DH * s->W * wpp;
        bnn_pc_feed(&acc, kind, in + o, wco + ky * row, kind & BNN_PC_MASK ? nzp + o : nzp, row);
    }
    return bnn_pc_total(&acc);
}

/* runs: scratch for 3 * KH * KW int32 (the caller's, sized at generation time) */
BNN_LAYER_KERNEL void bnn_conv2d(const bnn_word_t *in, int32_t ternary, const bnn_word_t *w,
                       const bnn_conv_shape *s, int32_t mode, int32_t *acc, int32_t *runs)
{
    const int32_t wpp = BNN_WORDS(s->Cin);
    const int32_t taps = s->KH * s->KW * wpp;
    const bnn_word_t *nzp = in + s->H * s->W * wpp;
    int32_t oy, ox, co;
    for (oy = 0; oy < s->OH; ++oy) {
        for (ox = 0; ox < s->OW; ++ox) {
            int32_t *out = acc + (oy * s->OW + ox) * s->Cout;
            int32_t valid;
            const int32_t n_runs = bnn_conv_runs(nzp, ternary, s, oy, ox, runs, &valid);
            const int32_t iy0 = oy * s->SH - s->PT, ix0 = ox * s->SW - s->PL;
            const int32_t inside = s->DW == 1 && iy0 >= 0 && iy0 + (s->KH - 1) * s->DH < s->H
                                   && ix0 >= 0 && ix0 + s->KW <= s->W;
            const int32_t base = (iy0 * s->W + ix0) * wpp;
            if (inside && !ternary) {
                for (co = 0; co < s->Cout; ++co) {
                    const int32_t q = bnn_conv_q_inside(BNN_PC_XOR, in, nzp, w + co * taps, base, s);
                    out[co] = mode == BNN_ACC_XOR_POPCOUNT ? q : valid - 2 * q;
                }
            } else if (inside) {
                for (co = 0; co < s->Cout; ++co) {
                    const int32_t q = bnn_conv_q_inside(BNN_PC_XOR | BNN_PC_MASK, in, nzp, w + co * taps, base, s);
                    out[co] = mode == BNN_ACC_XOR_POPCOUNT ? q : valid - 2 * q;
                }
            } else if (ternary) {
                for (co = 0; co < s->Cout; ++co) {
                    const int32_t q = bnn_conv_q(BNN_PC_XOR | BNN_PC_MASK, in, nzp, w + co * taps, runs, n_runs, s);
                    out[co] = mode == BNN_ACC_XOR_POPCOUNT ? q : valid - 2 * q;
                }
            } else {
                for (co = 0; co < s->Cout; ++co) {
                    const int32_t q = bnn_conv_q(BNN_PC_XOR, in, nzp, w + co * taps, runs, n_runs, s);
                    out[co] = mode == BNN_ACC_XOR_POPCOUNT ? q : valid - 2 * q;
                }
            }
        }
    }
}

/* ---- integer thresholds -> binary -----------------------------------------
 * out = dir * ([x >= hi] + [x >= lo] - 1) with lo <= hi, dir in {-1, +1}; per channel
 * or per element.  Each output word (and its nonzero-plane word) is built in registers and stored once;
 * tail bits stay 0. */
#define BNN_THRESHOLD_BODY(T)                                                              \
    const int32_t wpp = BNN_WORDS(C);                                                      \
    int32_t p, j, b;                                                                       \
    for (p = 0; p < P; ++p) {                                                              \
        for (j = 0; j < wpp; ++j) {                                                        \
            const int32_t c0 = j * BNN_WORD_BITS;                                          \
            const int32_t nb = C - c0 < BNN_WORD_BITS ? C - c0 : BNN_WORD_BITS;            \
            bnn_word_t val = 0, nz = 0;                                                    \
            for (b = 0; b < nb; ++b) {                                                     \
                const int32_t c = c0 + b;                                                  \
                const int32_t r = per_element ? p * C + c : c;                             \
                const T x = acc[p * C + c];                                                \
                const int32_t ge_hi = x >= hi[r], lt_lo = !(x >= lo[r]);                   \
                /* dir = +1: out > 0 iff ge_hi; dir = -1: iff lt_lo; out != 0 iff either */ \
                val |= (bnn_word_t)(dir[r] > 0 ? ge_hi : lt_lo) << b;                      \
                nz |= (bnn_word_t)(ge_hi | lt_lo) << b;                                    \
            }                                                                              \
            out[p * wpp + j] = val;                                                        \
            if (ternary) out[(P + p) * wpp + j] = nz;                                      \
        }                                                                                  \
    }

BNN_LAYER_KERNEL void bnn_threshold(const int32_t *acc, int32_t P, int32_t C, int32_t per_element,
                          const int8_t *dir, const int32_t *lo, const int32_t *hi,
                          int32_t ternary, bnn_word_t *out)
{
    BNN_THRESHOLD_BODY(int32_t)
}

/* the same on the float32 accumulator of a real-input layer (lo, hi may be +-inf) */
BNN_LAYER_KERNEL void bnn_threshold_f32(const float *acc, int32_t P, int32_t C, int32_t per_element,
                              const int8_t *dir, const float *lo, const float *hi,
                              int32_t ternary, bnn_word_t *out)
{
    BNN_THRESHOLD_BODY(float)
}

/* ---- max/min pooling on bits ----------------------------------------------
 * Per channel, max (bit set in is_max) or min over the valid taps of the window.
 * With pos = +1 and neg = -1 indicators: max = +1 if any pos, -1 if all neg, else 0;
 * min = -1 if any neg, +1 if all pos, else 0. */
typedef struct {
    int32_t H, W, C, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW;
} bnn_pool_shape;

BNN_LAYER_KERNEL void bnn_pool_bits(const bnn_word_t *in, int32_t ternary, const bnn_word_t *is_max,
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
BNN_LAYER_KERNEL void bnn_affine_steps(const int32_t *acc, int32_t P, int32_t C, const float *scale,
                             int32_t scale_stride, const bnn_step *steps, int32_t n_steps, float *out)
{
    int32_t i;
    for (i = 0; i < P * C; ++i) {  /* ONNX order i = c * P + p */
        const int32_t c = i / P, p = i % P;
        out[i] = bnn_apply_steps((float)acc[p * C + c] * scale[i * scale_stride], i, steps, n_steps);
    }
}

/* lut: one row of 2K+1 values per output element, indexed by acc + K */
BNN_LAYER_KERNEL void bnn_affine_lut(const int32_t *acc, int32_t P, int32_t C, int32_t K, const float *lut, float *out)
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
BNN_LAYER_KERNEL void bnn_unpack(const bnn_word_t *in, int32_t P, int32_t C, int32_t ternary, float level, float *out)
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
BNN_LAYER_KERNEL int64_t bnn_argmax(const float *v, int32_t n)
{
    int32_t i, best = 0;
    for (i = 1; i < n; ++i)
        if (v[i] > v[best]) best = i;
    return (int64_t)best;
}

/* ---- MST channel order (bnncc/passes/mst_reorder.py derives the identity) ------
 * Output channels are evaluated in plan order ch[t].  The first n_roots (par[t] < 0)
 * are computed in full; every later one from its parent par[t] (evaluated earlier) over the
 * child's entries e in [start[t], start[t + 1]): the row word idx[e] (for a
 * convolution: tap * wpp + word; aoff[e] is that word's input offset from the window
 * origin) where the difference set D has bits mask[e].  With V the valid inputs (all
 * K bipolar inputs, the nonzero plane of a ternary input, the taps inside the map),
 * q = popcount((a ^ w) & V), x = popcount((a ^ w_par) & D & V), dv = popcount(D & V):
 *   q_child = q_par + dv - 2x               (plain edge: D = where w_child != w_par)
 *   q_child = |V| - q_par - dv + 2x         (comp[t]: D = where w_child == w_par)
 * dsz[t] = |D| is dv when V is everything (bipolar input, window inside the map).
 * Only the words of D are touched; thresholds and the output order are unchanged. */
typedef struct {
    int32_t n, n_roots;
    const int32_t *ch, *par;
    const int8_t *comp;
    const int32_t *dsz, *start, *idx, *aoff;
    const bnn_word_t *mask;
} bnn_mst_plan;

/* acc + popcount(x) for one gathered word: the builtin, or SWAR bytes + USADA8/multiply */
BNN_ALWAYS_INLINE int32_t bnn_mst_pc(int32_t acc, bnn_word_t x)
{
#if BNN_POPCOUNT == BNN_POPCOUNT_BUILTIN
    return acc + bnn_popcount(x);
#else
    return bnn_add_byte_sum(acc, bnn_byte_counts(x));
#endif
}

BNN_ALWAYS_INLINE int32_t bnn_mst_q(int32_t q_par, int32_t valid, int32_t comp, int32_t dv, int32_t x)
{
    return comp ? valid - q_par - dv + 2 * x : q_par + dv - 2 * x;
}

#if defined(__GNUC__)
#define BNN_MST_NOINLINE __attribute__((noinline))
#else
#define BNN_MST_NOINLINE
#endif

/* the children of a dense MST plan, t in [n_roots, n): a function of its own so that
 * its loop gets the registers (inlined beside the Harley-Seal roots it spills) */
static BNN_MST_NOINLINE void bnn_dense_mst_children(const bnn_word_t *in, const bnn_word_t *nz, int32_t n_words,
                                                    int32_t valid, int32_t ternary, const bnn_word_t *w,
                                                    const bnn_mst_plan *p, int32_t *acc)
{
    const int32_t n = p->n;
    const int32_t *const ch = p->ch, *const par = p->par, *const dsz = p->dsz, *const start = p->start;
    const int32_t *const idx = p->idx;
    const int8_t *const comp = p->comp;
    const bnn_word_t *const mask = p->mask;
    int32_t t = p->n_roots, e = start[t];
    for (; t < n; ++t) {
        const int32_t e1 = start[t + 1];
        const bnn_word_t *wp = w + par[t] * n_words;
        int32_t x = 0, dv = dsz[t];
        if (ternary) {
            dv = 0;
            for (; e < e1; ++e) {
                const int32_t i = idx[e];
                const bnn_word_t m = mask[e] & nz[i];
                x = bnn_mst_pc(x, (in[i] ^ wp[i]) & m);
                dv = bnn_mst_pc(dv, m);
            }
        } else {
            for (; e < e1; ++e) {
                const int32_t i = idx[e];
                x = bnn_mst_pc(x, (in[i] ^ wp[i]) & mask[e]);
            }
        }
        acc[ch[t]] = bnn_mst_q(acc[par[t]], valid, comp[t], dv, x);
    }
}

/* bnn_dense (same arguments and result) along an MST plan: the roots first, with the
 * full kernel, then the children (consecutive children have consecutive entries).
 * Always inlined, so each call site drops the unused (ternary or bipolar) path: a shared
 * out-of-line copy made GCC's -Warray-bounds see a nonzero plane past a bipolar tensor. */
BNN_ALWAYS_INLINE void bnn_dense_mst(const bnn_word_t *in, int32_t n_words, int32_t K, int32_t ternary,
                                 const bnn_word_t *w, const bnn_mst_plan *p, int32_t mode, int32_t *acc)
{
    const bnn_word_t *nz = in + n_words;
    const int32_t valid = ternary ? bnn_popcount_words(nz, n_words) : K;
    int32_t t;
    for (t = 0; t < p->n_roots; ++t) {
        const bnn_word_t *row = w + p->ch[t] * n_words;
        acc[p->ch[t]] = ternary ? bnn_xor_popcount_masked(in, row, nz, n_words) : bnn_xor_popcount(in, row, n_words);
    }
    bnn_dense_mst_children(in, nz, n_words, valid, ternary, w, p, acc);
    if (mode != BNN_ACC_XOR_POPCOUNT)
        for (t = 0; t < p->n; ++t) acc[t] = valid - 2 * acc[t];
}

/* bnn_conv2d (same arguments and result) along an MST plan; a window that is not
 * wholly inside the map checks each entry's tap and recounts dv (always inlined, as
 * bnn_dense_mst) */
BNN_ALWAYS_INLINE void bnn_conv2d_mst(const bnn_word_t *in, int32_t ternary, const bnn_word_t *w,
                                  const bnn_conv_shape *s, const bnn_mst_plan *p, int32_t mode, int32_t *acc,
                                  int32_t *runs)
{
    const int32_t wpp = BNN_WORDS(s->Cin);
    const int32_t taps = s->KH * s->KW * wpp;
    const bnn_word_t *nzp = in + s->H * s->W * wpp;
    int32_t oy, ox, t, e, n;
    for (oy = 0; oy < s->OH; ++oy) {
        for (ox = 0; ox < s->OW; ++ox) {
            int32_t *out = acc + (oy * s->OW + ox) * s->Cout;
            const int32_t iy0 = oy * s->SH - s->PT, ix0 = ox * s->SW - s->PL;
            const int32_t inside = iy0 >= 0 && ix0 >= 0 && iy0 + (s->KH - 1) * s->DH < s->H
                                   && ix0 + (s->KW - 1) * s->DW < s->W;
            const int32_t base = inside ? (iy0 * s->W + ix0) * wpp : 0;
            int32_t valid;
            const int32_t n_runs = bnn_conv_runs(nzp, ternary, s, oy, ox, runs, &valid);
            for (t = 0; t < p->n; ++t) {
                const int32_t c = p->ch[t], par = p->par[t];
                if (par < 0) {
                    const bnn_word_t *wco = w + c * taps;
                    out[c] = ternary ? bnn_conv_q(BNN_PC_XOR | BNN_PC_MASK, in, nzp, wco, runs, n_runs, s)
                                     : bnn_conv_q(BNN_PC_XOR, in, nzp, wco, runs, n_runs, s);
                } else {
                    const bnn_word_t *wp = w + par * taps;
                    const int32_t e1 = p->start[t + 1];
                    const int32_t recount = ternary || !inside;
                    int32_t x = 0, dv = recount ? 0 : p->dsz[t];
                    for (e = p->start[t]; e < e1; ++e) {
                        const int32_t i = p->idx[e];
                        int32_t o;
                        bnn_word_t m = p->mask[e];
                        if (inside) {
                            o = base + p->aoff[e];
                        } else {
                            const int32_t tap = i / wpp;
                            const int32_t iy = iy0 + (tap / s->KW) * s->DH, ix = ix0 + (tap % s->KW) * s->DW;
                            if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                            o = (iy * s->W + ix) * wpp + i % wpp;
                        }
                        if (ternary) m &= nzp[o];
                        x = bnn_mst_pc(x, (in[o] ^ wp[i]) & m);
                        if (recount) dv = bnn_mst_pc(dv, m);
                    }
                    out[c] = bnn_mst_q(out[par], valid, p->comp[t], dv, x);
                }
            }
            if (mode != BNN_ACC_XOR_POPCOUNT)
                for (n = 0; n < s->Cout; ++n) out[n] = valid - 2 * out[n];
        }
    }
}

#endif /* BNN_KERNELS_H */
