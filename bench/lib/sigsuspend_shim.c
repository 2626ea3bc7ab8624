/*
 * LD_PRELOAD shim for running Postern under valgrind 3.19 (bench/callgrind.sh).
 *
 * libdispatch's dispatch_main() parks the main thread in
 * sigsuspend(&mask) with `static const sigset_t mask`, which lives in
 * read-only memory. valgrind 3.19's rt_sigsuspend wrapper edits the mask in
 * place (to keep its own signals deliverable) and dies with SIGSEGV
 * ("VALGRIND INTERNAL ERROR ... sys_rt_sigsuspend"). Passing a writable copy
 * to the same system call changes nothing else.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
	sigset_t copy = *mask;
	return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
