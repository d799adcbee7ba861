// Order matters: glibc types first, then the kernel io_uring header, then liburing; otherwise
// fd_set differs between Clang modules, and liburing's bundled older io_uring.h clashes with
// the kernel's on io_uring_sqe.
#include <sys/types.h>
#include <sys/socket.h>
#include <signal.h>
#include <linux/io_uring.h>
#include <liburing.h>

// getsockopt(SOL_SOCKET, optname) as an io_uring command on a (fixed) socket, Linux 6.7+.
// liburing 2.3 predates io_uring_prep_cmd_sock, and the installed kernel header may predate the
// sqe's level/optname/optlen/optval names, so the fields are written at their ABI offsets.
static inline void ampora_prep_getsockopt(struct io_uring_sqe *sqe, int fd, int optname, void *optval, int optlen) {
    unsigned char *p = (unsigned char *)sqe;
    __u32 cmd_op = 2; /* SOCKET_URING_OP_GETSOCKOPT */
    __u32 level = SOL_SOCKET;
    __u32 name = (__u32)optname;
    __u32 len = (__u32)optlen;
    __u64 value = (__u64)(unsigned long)optval;
    io_uring_prep_rw(46 /* IORING_OP_URING_CMD */, sqe, fd, 0, 0, 0);
    __builtin_memcpy(p + 8, &cmd_op, 4);
    __builtin_memset(p + 12, 0, 4);
    __builtin_memcpy(p + 16, &level, 4);
    __builtin_memcpy(p + 20, &name, 4);
    __builtin_memcpy(p + 44, &len, 4);
    __builtin_memcpy(p + 48, &value, 8);
}
