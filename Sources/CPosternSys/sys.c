#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "CPosternSys.h"

void postern_name_this_thread(const char *name) {
#ifdef __linux__
    pthread_setname_np(pthread_self(), name);
#endif
}

int postern_syncfs(int fd) {
#ifdef __linux__
    return syncfs(fd);
#else
    return fsync(fd);
#endif
}

int postern_rename_noreplace(int dirfd, const char *from, int todirfd, const char *to) {
#if defined(__linux__) && defined(SYS_renameat2)
    long r = syscall(SYS_renameat2, dirfd, from, todirfd, to, 1 /* RENAME_NOREPLACE */);
    if (r == 0 || errno != EINVAL) return (int)r;
#endif
    return renameat(dirfd, from, todirfd, to);
}

#ifdef __linux__
static uid_t credentials_uid;
static gid_t credentials_gid;
static const gid_t *credentials_groups;
static size_t credentials_count;
/// 0 while the target thread has not run the handler, then 1 or -errno.
static atomic_int credentials_result;

/// Runs on the target thread. Raw system calls: glibc's wrappers would
/// broadcast to every thread again, and only async-signal-safe calls belong here.
static void set_own_credentials(int signal_number) {
    (void)signal_number;
    int saved = errno;
    long r = syscall(SYS_setgroups, credentials_count, credentials_groups);
    if (r == 0) r = syscall(SYS_setresgid, credentials_gid, credentials_gid, credentials_gid);
    if (r == 0) r = syscall(SYS_setresuid, credentials_uid, credentials_uid, credentials_uid);
    atomic_store(&credentials_result, r == 0 ? 1 : -errno);
    errno = saved;
}
#endif

int postern_set_thread_credentials(pid_t tid, uid_t uid, gid_t gid, const gid_t *groups, size_t count,
                                   int timeout_ms) {
#ifdef __linux__
    int signal_number = SIGRTMIN + 3;
    struct sigaction action, previous;
    memset(&action, 0, sizeof action);
    action.sa_handler = set_own_credentials;
    sigemptyset(&action.sa_mask);
    credentials_uid = uid;
    credentials_gid = gid;
    credentials_groups = groups;
    credentials_count = count;
    atomic_store(&credentials_result, 0);
    if (sigaction(signal_number, &action, &previous) != 0) return -errno;
    int result = 0;
    if (syscall(SYS_tgkill, getpid(), tid, signal_number) != 0) {
        result = -errno;
    } else {
        struct timespec millisecond = {0, 1000000};
        for (int waited = 0; (result = atomic_load(&credentials_result)) == 0 && waited < timeout_ms; waited++) {
            nanosleep(&millisecond, NULL);
        }
        if (result == 0) result = -ETIMEDOUT;
        else if (result == 1) result = 0;
    }
    sigaction(signal_number, &previous, NULL);
    return result;
#else
    (void)tid; (void)uid; (void)gid; (void)groups; (void)count; (void)timeout_ms;
    return -ENOSYS;
#endif
}

// CRC-32C. Written here rather than taken from a library: none of the Swift
// packages on hand has one, and zlib's crc32 is the other polynomial.
static uint32_t crc32c_table[256];

static void crc32c_make_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[n] = c;
    }
}

static uint32_t crc32c_soft(uint32_t crc, const uint8_t *p, size_t n) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc32c_make_table);
    while (n--) crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t postern_crc32c(uint32_t crc, const void *bytes, size_t count) {
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_sse42(crc, bytes, count);
#endif
    return ~crc32c_soft(crc, bytes, count);
}
