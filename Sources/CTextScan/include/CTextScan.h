#ifndef CTEXTSCAN_H
#define CTEXTSCAN_H

#include <stddef.h>

/// Message text as most mail is: the length of the longest prefix of
/// `p[0..<n]` made of whole lines that each end in CRLF, hold no other CR or
/// LF and no NUL, are at most `max_line` octets long without their CRLF,
/// and, if `dot_ends` is nonzero, do not start with ".". `*longest` is raised
/// to the longest of those lines. `p` must be at the start of a line.
///
/// DATA framing, the server's text check and dot-stuffing skip such lines
/// with this one SIMD pass and fall back to their own octet rules for the
/// rest (issue #15: per-line memchr calls and Swift state cost 4 to 8
/// instructions per octet of a 100 KiB message).
size_t postern_plain_lines(const unsigned char *p, size_t n, size_t max_line, int dot_ends, size_t *longest);

/// The instruction set postern_plain_lines uses: 2 = AVX2, 1 = SSE2,
/// 0 = plain C (what the machine has, found once at load).
int postern_text_scan_level(void);

/// postern_plain_lines with the instruction set `level` (at most what the
/// machine has), for tests: every path must give the same answers.
size_t postern_plain_lines_at(int level, const unsigned char *p, size_t n, size_t max_line, int dot_ends,
                              size_t *longest);

#endif
