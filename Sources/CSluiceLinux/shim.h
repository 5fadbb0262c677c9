#ifndef CSLUICELINUX_SHIM_H
#define CSLUICELINUX_SHIM_H
// Linux kernel interfaces that Swift's Glibc module does not export: epoll, eventfd, accept4.
// Headers only; nothing to link (glibc provides the symbols).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

// accept4 is declared only under _GNU_SOURCE, which the Glibc module is not built with.
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

static inline int CSluiceLinux_accept4(int fd, int flags) {
    return accept4(fd, 0, 0, flags);
}

static inline int CSluiceLinux_tcpNoDelay(void) { return TCP_NODELAY; }

// fallocate (Linux) is declared only under _GNU_SOURCE too (in <fcntl.h>, not included here so
// that struct stat stays Glibc's).
extern int fallocate(int fd, int mode, off_t offset, off_t length);

static inline int CSluiceLinux_allocate(int fd, long long offset, long long length) {
    return fallocate(fd, 0, (off_t)offset, (off_t)length);
}

#include <time.h>
#include <signal.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
// epoll_pwait2 (Linux 5.11) waits with a nanosecond timeout. It is called through syscall(2)
// rather than glibc's wrapper, which would make every binary need glibc 2.35.
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static inline int CSluiceLinux_epollWaitNanoseconds(int fd, struct epoll_event *events, int maximum, long long nanoseconds) {
    struct timespec timeout = { (time_t)(nanoseconds / 1000000000LL), (long)(nanoseconds % 1000000000LL) };
    return (int)syscall(SYS_epoll_pwait2, fd, events, maximum, &timeout, (void *)0, (size_t)8);
}
#endif
