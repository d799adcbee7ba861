// Linux system calls the Glibc Swift module leaves out (epoll, eventfd, signalfd, TCP options).
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <malloc.h>

// accept4 is declared only under _GNU_SOURCE, which the Glibc module was built without.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
static inline int ampora_accept4(int fd, int flags) { return accept4(fd, 0, 0, flags); }

// prctl is variadic, so Swift cannot call it: name the calling thread (shown by top -H, ps -L).
static inline void ampora_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
