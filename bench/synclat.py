#!/usr/bin/env python3
"""How long each way of making one small queue record durable takes on this
disk, timed alone (no server, no load): what the commit journal saves.

    python3 bench/synclat.py [DIR] [COUNT]

DIR (default ./var/synclat, created and removed) must be on the queue's
filesystem. For COUNT (default 300) 4,600-octet records it times:

- the classic commit of one record: create and write the file, syncfs(2),
  rename it into another directory, fsync(2) that directory;
- the journal's commit: pwrite into a preallocated file, fdatasync(2);
- the same pwrite with the file opened O_DSYNC instead.

It prints the median and mean of each in milliseconds.
"""

import ctypes
import os
import shutil
import statistics
import sys
import time

RECORD = 4600
JOURNAL = 64 << 20


def timed(step, count):
    samples = []
    for index in range(count):
        started = time.perf_counter()
        step(index)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3, statistics.mean(samples) * 1e3


def main():
    directory = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "var/synclat")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    os.makedirs(directory + "/incoming", exist_ok=True)
    os.makedirs(directory + "/msg", exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    record = os.urandom(RECORD)
    try:
        incoming = os.open(directory + "/incoming", os.O_RDONLY | os.O_DIRECTORY)
        messages = os.open(directory + "/msg", os.O_RDONLY | os.O_DIRECTORY)

        def classic(index):
            name = f"{index:016X}.msg"
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=incoming)
            os.write(fd, record)
            os.close(fd)
            if libc.syncfs(incoming) != 0:
                raise OSError(ctypes.get_errno(), "syncfs")
            os.rename(name, name, src_dir_fd=incoming, dst_dir_fd=messages)
            os.fsync(messages)

        def preallocated(flags):
            fd = os.open(directory + "/journal", os.O_RDWR | os.O_CREAT | flags, 0o600)
            block = b"\0" * (1 << 20)
            for offset in range(0, JOURNAL, len(block)):
                os.pwrite(fd, block, offset)
            os.fsync(fd)
            return fd

        journal = preallocated(0)

        def journal_commit(index):
            os.pwrite(journal, record, 4096 + (index * 8192) % (JOURNAL - 8192))
            os.fdatasync(journal)

        dsync = preallocated(os.O_DSYNC)

        def journal_dsync(index):
            os.pwrite(dsync, record, 4096 + (index * 8192) % (JOURNAL - 8192))

        print(f"{count} records of {RECORD} octets in {directory}: median / mean ms")
        for label, step in [("classic: file, syncfs, rename, directory fsync", classic),
                            ("journal: pwrite, fdatasync", journal_commit),
                            ("journal: pwrite with O_DSYNC", journal_dsync)]:
            median, mean = timed(step, count)
            print(f"  {label:50} {median:6.3f} / {mean:6.3f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
