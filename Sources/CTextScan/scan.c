#include "CTextScan.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// The offset of the first CR, LF or NUL in p[i..<n], or n.
static inline size_t next_special(const unsigned char *p, size_t i, size_t n) {
#if defined(__SSE2__)
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n'), nul = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)), _mm_cmpeq_epi8(v, nul));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask != 0) return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = p[i];
        if (c == '\r' || c == '\n' || c == 0) return i;
    }
    return n;
}

size_t postern_plain_lines(const unsigned char *p, size_t n, size_t max_line, int dot_ends, size_t *longest) {
    size_t start = 0, best = *longest;
    while (start < n && !(dot_ends && p[start] == '.')) {
        // A line longer than max_line stops the run however it ends, so the
        // search need not go further than its CRLF could be.
        size_t remaining = n - start;
        size_t limit = max_line < remaining && remaining - max_line > 2 ? start + max_line + 2 : n;
        size_t end = next_special(p, start, limit);
        if (end + 1 >= limit || p[end] != '\r' || p[end + 1] != '\n') break;
        size_t length = end - start;
        if (length > best) best = length;
        start = end + 2;
    }
    *longest = best;
    return start;
}
