#ifndef CPOSTERN_SYS_H
#define CPOSTERN_SYS_H

/// Flushes every dirty inode and the journal of the filesystem holding `fd`:
/// one call makes a whole batch of new queue files durable (group commit).
int postern_syncfs(int fd);

/// Renames `from` to `to` inside directory `dirfd`, failing with EEXIST rather
/// than replacing an existing queue file.
int postern_rename_noreplace(int dirfd, const char *from, int todirfd, const char *to);

#endif
