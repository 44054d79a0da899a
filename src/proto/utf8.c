/* utf8.c - strict UTF-8 validator: a byte-class DFA in the spirit of Bjoern
 * Hoehrmann's decoder, run as a shift-based DFA, plus an 8-bytes-at-a-time
 * skip over ASCII runs.
 *
 * Every byte maps to one of 12 classes. The states encode exactly what the
 * next byte must be, which is how overlongs (E0 80..9F, F0 80..8F),
 * surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..BF) are
 * refused: by range of the second byte, never by decoding the code point.
 *
 * Speed: a state is a bit offset (a multiple of 6) and each class has one
 * 64-bit row holding the next state for every current state, so a step is
 * (row >> state) & 63. The row load depends only on the input byte, which
 * leaves a shift and a mask on the serial path instead of a table load. */
#include "proto/utf8.h"

#include <string.h>

enum {
    K_ASCII,  /* 00..7F */
    K_C80,    /* 80..8F continuation */
    K_C90,    /* 90..9F continuation */
    K_CA0,    /* A0..BF continuation */
    K_BAD,    /* C0 C1 F5..FF: never valid */
    K_L2,     /* C2..DF: lead of 2 */
    K_E0,     /* E0: lead of 3, next A0..BF (no overlong) */
    K_L3,     /* E1..EC EE EF: lead of 3 */
    K_ED,     /* ED: lead of 3, next 80..9F (no surrogate) */
    K_F0,     /* F0: lead of 4, next 90..BF (no overlong) */
    K_L4,     /* F1..F3: lead of 4 */
    K_F4,     /* F4: lead of 4, next 80..8F (<= U+10FFFF) */
    K_COUNT
};

/* Internal states are bit offsets into a row. ACCEPT keeps the public 0;
 * the internal reject state is reported as PL_UTF8_REJECT (1), which no
 * other state uses. */
enum {
    S_ACC = 0,
    S_REJ = 6,
    S_T1 = 12,  /* one continuation byte to go */
    S_T2 = 18,  /* two to go */
    S_T3 = 24,  /* three to go */
    S_E0 = 30,  /* after E0: A0..BF, then one more */
    S_ED = 36,  /* after ED: 80..9F, then one more */
    S_F0 = 42,  /* after F0: 90..BF, then two more */
    S_F4 = 48,  /* after F4: 80..8F, then two more */
};

static const uint8_t byte_class[256] = {
#define R16(k) k, k, k, k, k, k, k, k, k, k, k, k, k, k, k, k
    R16(K_ASCII), R16(K_ASCII), R16(K_ASCII), R16(K_ASCII),  /* 00..3F */
    R16(K_ASCII), R16(K_ASCII), R16(K_ASCII), R16(K_ASCII),  /* 40..7F */
    R16(K_C80), R16(K_C90), R16(K_CA0), R16(K_CA0),          /* 80..BF */
    K_BAD, K_BAD, K_L2, K_L2, K_L2, K_L2, K_L2, K_L2,        /* C0..C7 */
    K_L2, K_L2, K_L2, K_L2, K_L2, K_L2, K_L2, K_L2,          /* C8..CF */
    R16(K_L2),                                               /* D0..DF */
    K_E0, K_L3, K_L3, K_L3, K_L3, K_L3, K_L3, K_L3,          /* E0..E7 */
    K_L3, K_L3, K_L3, K_L3, K_L3, K_ED, K_L3, K_L3,          /* E8..EF */
    K_F0, K_L4, K_L4, K_L4, K_F4, K_BAD, K_BAD, K_BAD,       /* F0..F7 */
    K_BAD, K_BAD, K_BAD, K_BAD, K_BAD, K_BAD, K_BAD, K_BAD,  /* F8..FF */
#undef R16
};

/* One row per byte class: the next state for each current state. */
#define ROW(acc, t1, t2, t3, e0, ed, f0, f4)                                 \
    ((uint64_t)(acc) << S_ACC | (uint64_t)S_REJ << S_REJ |                   \
     (uint64_t)(t1) << S_T1 | (uint64_t)(t2) << S_T2 |                       \
     (uint64_t)(t3) << S_T3 | (uint64_t)(e0) << S_E0 |                       \
     (uint64_t)(ed) << S_ED | (uint64_t)(f0) << S_F0 |                       \
     (uint64_t)(f4) << S_F4)
#define A S_ACC
#define X S_REJ
#define T1 S_T1
#define T2 S_T2
static const uint64_t class_row[K_COUNT] = {
    /* state now:   ACC    T1  T2  T3  E0  ED  F0  F4 */
    [K_ASCII] = ROW(A,     X,  X,  X,  X,  X,  X,  X),
    [K_C80]   = ROW(X,     A,  T1, T2, X,  T1, X,  T2),
    [K_C90]   = ROW(X,     A,  T1, T2, X,  T1, T2, X),
    [K_CA0]   = ROW(X,     A,  T1, T2, T1, X,  T2, X),
    [K_BAD]   = ROW(X,     X,  X,  X,  X,  X,  X,  X),
    [K_L2]    = ROW(S_T1,  X,  X,  X,  X,  X,  X,  X),
    [K_E0]    = ROW(S_E0,  X,  X,  X,  X,  X,  X,  X),
    [K_L3]    = ROW(S_T2,  X,  X,  X,  X,  X,  X,  X),
    [K_ED]    = ROW(S_ED,  X,  X,  X,  X,  X,  X,  X),
    [K_F0]    = ROW(S_F0,  X,  X,  X,  X,  X,  X,  X),
    [K_L4]    = ROW(S_T3,  X,  X,  X,  X,  X,  X,  X),
    [K_F4]    = ROW(S_F4,  X,  X,  X,  X,  X,  X,  X),
};
#undef A
#undef X
#undef T1
#undef T2
#undef ROW

#define HIGH_BITS 0x8080808080808080ULL

/* Index of the first byte >= 0x80 in s[0..len), or len. */
static size_t ascii_prefix(const uint8_t *s, size_t len)
{
    size_t i = 0;

    for (; len - i >= 16; i += 16) {
        uint64_t a, b;
        memcpy(&a, s + i, 8);
        memcpy(&b, s + i + 8, 8);
        if ((a | b) & HIGH_BITS)
            break;
    }
    while (i < len && s[i] < 0x80)
        i++;
    return i;
}

static inline uint32_t step(uint32_t st, uint8_t b)
{
    return (uint32_t)(class_row[byte_class[b]] >> st) & 63;
}

static int state_ok(uint32_t st)
{
    return st <= S_F4 && st % 6 == 0 && st != S_REJ;
}

uint32_t pl_utf8_feed(uint32_t state, const uint8_t *s, size_t len)
{
    uint32_t st = state;
    size_t i = 0;

    if (!state_ok(st))
        return PL_UTF8_REJECT; /* also the sticky public REJECT (1) */
    while (i < len) {
        size_t n;
        if (st == S_ACC) {
            i += ascii_prefix(s + i, len - i);
            if (i == len)
                break;
        }
        /* Up to 16 steps without a branch on the state: REJECT is sticky
         * in the table, so it is enough to look once per block. */
        n = len - i < 16 ? len - i : 16;
        for (size_t end = i + n; i < end; i++)
            st = step(st, s[i]);
        if (st == S_REJ)
            return PL_UTF8_REJECT;
    }
    return st;
}

int pl_utf8_valid(const uint8_t *s, size_t len)
{
    return pl_utf8_feed(PL_UTF8_ACCEPT, s, len) == PL_UTF8_ACCEPT;
}
