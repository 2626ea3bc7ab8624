#ifndef CPOSTERN_SYS_H
#define CPOSTERN_SYS_H

/// Flushes every dirty inode and the journal of the filesystem holding `fd`:
/// one call makes a whole batch of new queue files durable (group commit).
int postern_syncfs(int fd);

/// Renames `from` to `to` inside directory `dirfd`, failing with EEXIST rather
/// than replacing an existing queue file.
int postern_rename_noreplace(int dirfd, const char *from, int todirfd, const char *to);

/// Names the calling thread (at most 15 octets shown), for ps, top and
/// the benchmarks' per-thread figures.
void postern_name_this_thread(const char *name);

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

/// Gives thread `tid` of this process the groups, gid and uid (real,
/// effective and saved) by making it run setgroups/setresgid/setresuid
/// itself, from a signal handler: credentials belong to each thread in
/// Linux, and glibc's setuid(3) broadcast passes by threads it counts as
/// exiting, such as the main thread libdispatch parks inside pthread_exit.
/// Returns 0, or -errno (-ETIMEDOUT: the thread did not take the signal
/// within `timeout_ms`).
int postern_set_thread_credentials(pid_t tid, uid_t uid, gid_t gid, const gid_t *groups, size_t count,
                                   int timeout_ms);

/// CRC-32C (Castagnoli, as iSCSI and ext4 use it) of `count` octets,
/// continuing from `crc` (0 to start): the commit journal's check that a
/// record was written whole. SSE4.2's crc32 instruction where the CPU has
/// it, a table otherwise.
uint32_t postern_crc32c(uint32_t crc, const void *bytes, size_t count);

#endif
