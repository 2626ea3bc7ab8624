#include "CTextScan.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define POSTERN_X86 1
#endif

/// Whether the octet ends a plain stretch of a line.
static inline int special(unsigned char c) { return c == '\r' || c == '\n' || c == 0; }

#if POSTERN_X86
/// The offset of the first octet <= 13 in p[i..<n] (a CR, LF or NUL, or a
/// rarer control such as TAB that the caller passes over), or n. One
/// unsigned min and compare per vector finds all three candidates.
__attribute__((always_inline))
static inline size_t next_low_sse2(const unsigned char *p, size_t i, size_t n) {
    const __m128i thirteen = _mm_set1_epi8(13);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, thirteen), v));
        if (mask != 0) return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
    for (; i < n; i++)
        if (p[i] <= 13) return i;
    return n;
}

__attribute__((target("avx2"), always_inline))
static inline size_t next_low_avx2(const unsigned char *p, size_t i, size_t n) {
    const __m256i thirteen = _mm256_set1_epi8(13);
    while (i + 32 <= n) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
        unsigned mask = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(v, thirteen), v));
        if (mask != 0) return i + (size_t)__builtin_ctz(mask);
        i += 32;
    }
    return next_low_sse2(p, i, n);
}

/// The best the machine offers: 2 = AVX2 (the CPU's support and the
/// kernel's, XSAVE of the YMM state), else 1 = SSE2 (the x86-64 baseline).
static int detected_level = 1;

__attribute__((constructor))
static void detect_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    if (b & bit_AVX2) __atomic_store_n(&detected_level, 2, __ATOMIC_RELAXED);
}
#else
static int detected_level = 0;
#endif

/// The run of plain lines, with `NEXT_LOW(p, i, n)` finding the next octet
/// <= 13: written once, compiled once per instruction set so that the
/// search inlines into the line loop (a call per line cost ~25 instructions).
#define PLAIN_LINES_BODY(NEXT_LOW)                                                               \
    size_t start = 0, best = *longest;                                                           \
    while (start < n && !(dot_ends && p[start] == '.')) {                                        \
        /* A line longer than max_line stops the run however it ends, so the                     \
           search need not go further than its CRLF could be. */                                 \
        size_t remaining = n - start;                                                            \
        size_t limit = max_line < remaining && remaining - max_line > 2 ? start + max_line + 2 : n; \
        size_t end = start;                                                                      \
        for (;;) {                                                                               \
            end = NEXT_LOW(p, end, limit);                                                       \
            if (end == limit || special(p[end])) break;                                          \
            end += 1; /* TAB and the other low controls are plain */                             \
        }                                                                                        \
        if (end + 1 >= limit || p[end] != '\r' || p[end + 1] != '\n') break;                     \
        size_t length = end - start;                                                             \
        if (length > best) best = length;                                                        \
        start = end + 2;                                                                         \
    }                                                                                            \
    *longest = best;                                                                             \
    return start;

static inline size_t next_low_scalar(const unsigned char *p, size_t i, size_t n) {
    for (; i < n; i++)
        if (p[i] <= 13) return i;
    return n;
}

static size_t plain_lines_scalar(const unsigned char *p, size_t n, size_t max_line, int dot_ends, size_t *longest) {
    PLAIN_LINES_BODY(next_low_scalar)
}

int postern_text_scan_level(void) { return __atomic_load_n(&detected_level, __ATOMIC_RELAXED); }

#if POSTERN_X86
__attribute__((target("avx2")))
static size_t plain_lines_avx2(const unsigned char *p, size_t n, size_t max_line, int dot_ends, size_t *longest) {
    PLAIN_LINES_BODY(next_low_avx2)
}

static size_t plain_lines_sse2(const unsigned char *p, size_t n, size_t max_line, int dot_ends, size_t *longest) {
    PLAIN_LINES_BODY(next_low_sse2)
}

size_t postern_plain_lines_at(int level, const unsigned char *p, size_t n, size_t max_line, int dot_ends,
                              size_t *longest) {
    if (level > postern_text_scan_level()) level = postern_text_scan_level();
    switch (level) {
    case 2: return plain_lines_avx2(p, n, max_line, dot_ends, longest);
    case 1: return plain_lines_sse2(p, n, max_line, dot_ends, longest);
    default: return plain_lines_scalar(p, n, max_line, dot_ends, longest);
    }
}
#else
size_t postern_plain_lines_at(int level, const unsigned char *p, size_t n, size_t max_line, int dot_ends,
                              size_t *longest) {
    (void)level;
    return plain_lines_scalar(p, n, max_line, dot_ends, longest);
}
#endif

size_t postern_plain_lines(const unsigned char *p, size_t n, size_t max_line, int dot_ends, size_t *longest) {
    return postern_plain_lines_at(postern_text_scan_level(), p, n, max_line, dot_ends, longest);
}
