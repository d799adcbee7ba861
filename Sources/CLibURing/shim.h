// Order matters: glibc types first, then the kernel io_uring header, then liburing
// (see PLATFORM.md: otherwise fd_set and io_uring_sqe clash between Clang modules).
#include <sys/types.h>
#include <sys/socket.h>
#include <signal.h>
#include <linux/io_uring.h>
#include <liburing.h>
