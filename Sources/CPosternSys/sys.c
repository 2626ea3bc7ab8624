#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "CPosternSys.h"

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
