/*
 * JSON minifier: removes JSON whitespace outside strings, copies everything
 * else verbatim, and refuses (returns -1) when removing a whitespace run would
 * glue two "other" bytes together (e.g. "[1 2]" -> "[12]"), so that invalid
 * JSON can never become valid.
 *
 * Three interchangeable kernels, chosen at run time, give identical output:
 *   path 1: AVX-512 BW + VBMI2 (vpcompressb), 64 bytes per step;
 *   path 2: SSSE3 (pshufb compress of 8-byte groups), 64-byte blocks;
 *   path 3: portable byte loop.
 * The module is compiled without -march flags, so the SIMD kernels are
 * compiled per function with __attribute__((target(...))) and only called
 * after __builtin_cpu_supports() said the CPU has the instructions.
 *
 * All kernels share one carried state (mini_state), so a SIMD kernel can hand
 * any 64-byte block to the byte loop and pick up again after it. Blocks with
 * a backslash (or with an escape pending from the block before) go to the
 * byte loop: escapes are rare in CityJSON and this keeps the SIMD code free
 * of escape handling.
 */
#ifndef MINI_MINIFY_H
#define MINI_MINIFY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The SIMD kernels need x86-64 (64-bit masks and popcount); elsewhere, or
 * with MINI_PORTABLE defined, only the byte loop is compiled. */
#if defined(__x86_64__) && !defined(MINI_PORTABLE)
#define MINI_X86 1
#include <immintrin.h>
#else
#define MINI_X86 0
#endif

/* State carried from one block (or byte) to the next. last_other and
 * run_other are always 0 inside strings (the opening quote clears them). */
typedef struct {
    int in_string;    /* inside a string (the opening quote was seen) */
    int escape;       /* inside a string, the previous byte was an unescaped backslash */
    int last_other;   /* the previous byte is an "other" byte outside strings */
    int run_other;    /* inside a removed whitespace run that follows an "other" byte */
} mini_state;

/* Byte classes. "Other" is everything that is not whitespace, not one of
 * { } [ ] , : and not a quote: the bytes of numbers, literals and garbage. */
static inline int mini_is_space(unsigned char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline int mini_is_other(unsigned char c) {
    return !(mini_is_space(c) || c == '{' || c == '}' || c == '[' || c == ']' ||
             c == ',' || c == ':' || c == '"');
}

/* Portable kernel: minify s[0:n] into out, updating st. Returns the number
 * of bytes written, or -1 when the safety rule fires. */
static ptrdiff_t mini_scalar(const unsigned char* s, size_t n, unsigned char* out,
                             mini_state* st) {
    int in_string = st->in_string, escape = st->escape;
    int last_other = st->last_other, run_other = st->run_other;
    unsigned char* q = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (in_string) {
            *q++ = c;
            if (escape)
                escape = 0;
            else if (c == '\\')
                escape = 1;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (mini_is_space(c)) {
            /* A run "follows an other byte" if the byte before its start is. */
            run_other |= last_other;
            last_other = 0;
            continue;
        }
        int other = mini_is_other(c);
        if (run_other && other)
            return -1;
        run_other = 0;
        last_other = other;
        in_string = (c == '"');
        *q++ = c;
    }
    st->in_string = in_string;
    st->escape = escape;
    st->last_other = last_other;
    st->run_other = run_other;
    return q - out;
}

/* Masks of one 64-byte block, bit i for byte i. */
typedef struct {
    uint64_t space, quote, backslash, other;
} mini_masks;

/* Prefix XOR: bit i of the result is the XOR of bits 0..i, so with the
 * quote bits it marks the bytes from an opening quote up to (not including)
 * the closing quote. Shifts rather than carry-less multiply, so that no
 * PCLMUL check is needed; it is a handful of cheap scalar operations. */
static inline uint64_t mini_prefix_xor(uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* mini_state as the SIMD kernels keep it in locals: 64-bit fields, so that
 * the compiler keeps them in general registers (with int fields gcc packs
 * the struct into a vector register, which is much slower). */
typedef struct {
    uint64_t in_string, escape, last_other, run_other;
} mini_carry;

static inline mini_carry mini_carry_from(const mini_state* st) {
    mini_carry c = {(uint64_t)st->in_string, (uint64_t)st->escape,
                    (uint64_t)st->last_other, (uint64_t)st->run_other};
    return c;
}

static inline void mini_carry_to(const mini_carry* c, mini_state* st) {
    st->in_string = (int)c->in_string;
    st->escape = (int)c->escape;
    st->last_other = (int)c->last_other;
    st->run_other = (int)c->run_other;
}

/* The mask-level step shared by the SIMD kernels. Given the classified block
 * and the carried state, returns the mask of bytes to keep and ORs the
 * positions where the safety rule fires into *bad.
 *
 * Safety rule with a carry: R marks removed whitespace. Adding to R a 1 at the
 * start of each run that follows an "other" byte ripples that 1 through the
 * run to the byte just after it; that byte must not be "other". A run that
 * reaches the end of the block carries out into the next block, exactly like
 * a multi-word addition. */
static inline uint64_t mini_step(const mini_masks* m, mini_carry* c, uint64_t* bad) {
    uint64_t in_str = mini_prefix_xor(m->quote) ^ (0 - c->in_string);
    uint64_t removed = m->space & ~in_str;
    uint64_t other = m->other & ~in_str;
    uint64_t starts = ((other << 1) | c->last_other) & removed;
    uint64_t sum;
    /* starts is a subset of removed, and a carry-in (the previous block ended
     * inside a run) means last_other is 0, so bit 0 is never added twice. */
    unsigned carry = __builtin_add_overflow(removed, starts, &sum);
    carry |= __builtin_add_overflow(sum, c->run_other, &sum);
    *bad |= sum & ~removed & other;
    c->in_string = in_str >> 63;
    c->last_other = other >> 63;
    c->run_other = carry;
    return ~removed;
}

/* Hand n bytes (a block with a backslash, or the tail) from a SIMD kernel to the byte
 * loop, with the state carried in and out; the new output position, or NULL when the
 * safety rule fired. */
static inline unsigned char* mini_by_bytes(const unsigned char* s, size_t n, unsigned char* q,
                                           mini_carry* cur, mini_state* st) {
    mini_carry_to(cur, st);
    ptrdiff_t k = mini_scalar(s, n, q, st);
    if (k < 0)
        return NULL;
    *cur = mini_carry_from(st);
    return q + k;
}

/* The end of a SIMD kernel: the tail through the byte loop; the output length, or -1 when
 * the safety rule fired in a block (bad) or in the tail (q NULL: fired in a handed block). */
static inline ptrdiff_t mini_finish(const unsigned char* s, size_t n, unsigned char* q,
                                    uint64_t bad, mini_carry* cur, mini_state* st,
                                    const unsigned char* out) {
    if (q == NULL || bad)
        return -1;
    q = mini_by_bytes(s, n, q, cur, st);
    return q == NULL ? -1 : q - out;
}

#if MINI_X86

/* Nibble tables for classification with two byte shuffles: a byte belongs to
 * a class when lo[byte & 15] & hi[byte >> 4] has one of the class bits.
 * Each bit stands for a set of bytes that shares high and low nibbles:
 *   0x01 ' '        0x02 \t \n \r     0x04 { } [ ]    0x08 ,
 *   0x10 :          0x20 "            0x40 backslash
 * Bytes >= 0x80 have zero entries in the high table. */
#define MINI_SPACE_BITS 0x03
#define MINI_STRUCT_BITS 0x1C
#define MINI_QUOTE_BITS 0x20
#define MINI_BACKSLASH_BITS 0x40
#define MINI_NOT_OTHER_BITS 0x3F
#define MINI_LO_TABLE                                                       \
    0x01, 0, 0x20, 0, 0, 0, 0, 0, 0, 0x02, 0x12, 0x04, 0x48, 0x06, 0, 0
#define MINI_HI_TABLE                                                       \
    0x02, 0, 0x29, 0x10, 0, 0x44, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0

/* ---- path 1: AVX-512 BW + VBMI2 ---- */

__attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt")))
static ptrdiff_t mini_avx512(const unsigned char* s, size_t n, unsigned char* out,
                             mini_state* st) {
    /* vpshufb looks up within each 16-byte lane: one table copy per lane */
    static const unsigned char tables[2][64] = {
        {MINI_LO_TABLE, MINI_LO_TABLE, MINI_LO_TABLE, MINI_LO_TABLE},
        {MINI_HI_TABLE, MINI_HI_TABLE, MINI_HI_TABLE, MINI_HI_TABLE}};
    const __m512i lo_table = _mm512_loadu_si512((const void*)tables[0]);
    const __m512i hi_table = _mm512_loadu_si512((const void*)tables[1]);
    const __m512i low_nibble = _mm512_set1_epi8(0x0F);
    /* The state lives in locals so that it stays in registers: the vector
     * stores to q could otherwise alias *st. */
    mini_carry cur = mini_carry_from(st);
    unsigned char* q = out;
    uint64_t bad = 0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i v = _mm512_loadu_si512((const void*)(s + i));
        __m512i lo = _mm512_shuffle_epi8(lo_table, _mm512_and_si512(v, low_nibble));
        __m512i hi = _mm512_shuffle_epi8(
            hi_table, _mm512_and_si512(_mm512_srli_epi16(v, 4), low_nibble));
        __m512i c = _mm512_and_si512(lo, hi);
        mini_masks m;
        m.backslash = _mm512_test_epi8_mask(c, _mm512_set1_epi8(MINI_BACKSLASH_BITS));
        if (__builtin_expect((m.backslash != 0) | cur.escape, 0)) {
            q = mini_by_bytes(s + i, 64, q, &cur, st);
            if (q == NULL)
                break;
            continue;
        }
        m.space = _mm512_test_epi8_mask(c, _mm512_set1_epi8(MINI_SPACE_BITS));
        m.quote = _mm512_test_epi8_mask(c, _mm512_set1_epi8(MINI_QUOTE_BITS));
        m.other = _mm512_testn_epi8_mask(c, _mm512_set1_epi8(MINI_NOT_OTHER_BITS));
        uint64_t keep = mini_step(&m, &cur, &bad);
        /* Compress in a register and store all 64 bytes: the output has 64
         * bytes of slack, and vpcompressb straight to memory is slow on AMD. */
        _mm512_storeu_si512((void*)q, _mm512_maskz_compress_epi8(keep, v));
        q += _mm_popcnt_u64(keep);
    }
    /* gcc does not clear the upper vector state here by itself; leaving it
     * dirty makes later SSE code (the SSSE3 path, memcpy) much slower. */
    _mm256_zeroupper();
    return mini_finish(s + i, n - i, q, bad, &cur, st, out);
}

/* ---- path 2: SSSE3 ---- */

/* mini_shuffle[k] lists, in order, the positions of the set bits of k (the
 * rest zero), i.e. the pshufb control that packs the kept bytes of an 8-byte
 * group to its front; mini_popcount8[k] counts them (SSSE3 does not imply
 * the popcnt instruction). Filled once by mini_init_tables(). */
static uint64_t mini_shuffle[256];
static unsigned char mini_popcount8[256];

static void mini_init_tables(void) {
    for (int k = 0; k < 256; k++) {
        uint64_t ctl = 0;
        int j = 0;
        for (int b = 0; b < 8; b++)
            if (k & (1 << b))
                ctl |= (uint64_t)b << (8 * j++);
        mini_shuffle[k] = ctl;
        mini_popcount8[k] = (unsigned char)j;
    }
}

/* Class bytes of 16 input bytes (see the nibble tables). */
__attribute__((target("ssse3")))
static inline __m128i mini_classify_sse(__m128i v) {
    const __m128i lo_table = _mm_setr_epi8(MINI_LO_TABLE);
    const __m128i hi_table = _mm_setr_epi8(MINI_HI_TABLE);
    const __m128i low_nibble = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_shuffle_epi8(lo_table, _mm_and_si128(v, low_nibble));
    __m128i hi = _mm_shuffle_epi8(hi_table, _mm_and_si128(_mm_srli_epi16(v, 4), low_nibble));
    return _mm_and_si128(lo, hi);
}

/* 64-bit mask of the bytes of the four class vectors that have none of the
 * given class bits. */
__attribute__((target("ssse3")))
static inline uint64_t mini_none_sse(const __m128i c[4], int bits) {
    const __m128i b = _mm_set1_epi8((char)bits), zero = _mm_setzero_si128();
    uint64_t m0 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(c[0], b), zero));
    uint64_t m1 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(c[1], b), zero));
    uint64_t m2 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(c[2], b), zero));
    uint64_t m3 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(c[3], b), zero));
    return m0 | (m1 << 16) | (m2 << 32) | (m3 << 48);
}

/* Pack the kept bytes of 16 input bytes (keep16: 16 bits) to q; returns the
 * new output position. Each 8-byte half gets its own table control; the high
 * half's control is offset by 8 so one pshufb serves both halves. Stores are
 * 8 bytes wide; the output has slack for the over-write. */
__attribute__((target("ssse3")))
static inline unsigned char* mini_pack16_sse(__m128i v, unsigned keep16, unsigned char* q) {
    unsigned k0 = keep16 & 0xFF, k1 = keep16 >> 8;
    __m128i ctl = _mm_set_epi64x((long long)(mini_shuffle[k1] + 0x0808080808080808ULL),
                                 (long long)mini_shuffle[k0]);
    __m128i packed = _mm_shuffle_epi8(v, ctl);
    _mm_storel_epi64((__m128i*)q, packed);
    q += mini_popcount8[k0];
    _mm_storel_epi64((__m128i*)q, _mm_unpackhi_epi64(packed, packed));
    return q + mini_popcount8[k1];
}

__attribute__((target("ssse3")))
static ptrdiff_t mini_ssse3(const unsigned char* s, size_t n, unsigned char* out,
                            mini_state* st) {
    mini_carry cur = mini_carry_from(st);
    unsigned char* q = out;
    uint64_t bad = 0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m128i v[4], c[4];
        v[0] = _mm_loadu_si128((const __m128i*)(s + i));
        v[1] = _mm_loadu_si128((const __m128i*)(s + i + 16));
        v[2] = _mm_loadu_si128((const __m128i*)(s + i + 32));
        v[3] = _mm_loadu_si128((const __m128i*)(s + i + 48));
        c[0] = mini_classify_sse(v[0]);
        c[1] = mini_classify_sse(v[1]);
        c[2] = mini_classify_sse(v[2]);
        c[3] = mini_classify_sse(v[3]);
        mini_masks m;
        m.backslash = ~mini_none_sse(c, MINI_BACKSLASH_BITS);
        if (__builtin_expect((m.backslash != 0) | cur.escape, 0)) {
            q = mini_by_bytes(s + i, 64, q, &cur, st);
            if (q == NULL)
                break;
            continue;
        }
        m.space = ~mini_none_sse(c, MINI_SPACE_BITS);
        m.quote = ~mini_none_sse(c, MINI_QUOTE_BITS);
        m.other = mini_none_sse(c, MINI_NOT_OTHER_BITS);
        uint64_t keep = mini_step(&m, &cur, &bad);
        q = mini_pack16_sse(v[0], (unsigned)keep & 0xFFFF, q);
        q = mini_pack16_sse(v[1], (unsigned)(keep >> 16) & 0xFFFF, q);
        q = mini_pack16_sse(v[2], (unsigned)(keep >> 32) & 0xFFFF, q);
        q = mini_pack16_sse(v[3], (unsigned)(keep >> 48), q);
    }
    return mini_finish(s + i, n - i, q, bad, &cur, st, out);
}

#endif /* MINI_X86 */

/* ---- dispatch ---- */

#define MINI_PATH_BEST 0
#define MINI_PATH_AVX512 1
#define MINI_PATH_SSSE3 2
#define MINI_PATH_SCALAR 3

/* Fill the tables and read the CPU features; call once before minifying
 * (the module does so on import). */
static void mini_init(void) {
#if MINI_X86
    mini_init_tables();
    __builtin_cpu_init();
#endif
}

/* Whether a path can run on this CPU. */
static int mini_path_available(int path) {
#if MINI_X86
    if (path == MINI_PATH_AVX512)
        return __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vbmi2");
    if (path == MINI_PATH_SSSE3)
        return __builtin_cpu_supports("ssse3");
#endif
    return path == MINI_PATH_SCALAR;
}

/* The fastest path this CPU supports. */
static int mini_best_path(void) {
    static int best = 0;
    if (!best) {
        if (mini_path_available(MINI_PATH_AVX512))
            best = MINI_PATH_AVX512;
        else if (mini_path_available(MINI_PATH_SSSE3))
            best = MINI_PATH_SSSE3;
        else
            best = MINI_PATH_SCALAR;
    }
    return best;
}

/* Minify s[0:n] into out (which must hold n + 64 bytes) with the given,
 * available path. Returns the output length or -1 (safety rule fired). */
static ptrdiff_t mini_minify(const unsigned char* s, size_t n, unsigned char* out, int path) {
    mini_state st = {0, 0, 0, 0};
    if (path == MINI_PATH_BEST)
        path = mini_best_path();
#if MINI_X86
    if (path == MINI_PATH_AVX512)
        return mini_avx512(s, n, out, &st);
    if (path == MINI_PATH_SSSE3)
        return mini_ssse3(s, n, out, &st);
#endif
    return mini_scalar(s, n, out, &st);
}

#endif /* MINI_MINIFY_H */
