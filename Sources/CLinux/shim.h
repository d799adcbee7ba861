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

// A peer address folded to 64 bits without its port (0: not IPv4 or IPv6): the key of the
// per-source registration limit. `bytes` is a sockaddr as the kernel wrote it, `length` long.
static inline unsigned long long ampora_peer_key(const void *bytes, unsigned int length) {
    const unsigned char *p = (const unsigned char *)bytes;
    unsigned short family;
    if (length < 2) return 0;
    __builtin_memcpy(&family, p, 2);
    if (family == AF_INET && length >= 8) {
        unsigned int a;
        __builtin_memcpy(&a, p + 4, 4);
        return (1ULL << 32) | a;
    }
    if (family == AF_INET6 && length >= 24) {
        unsigned long long hi, lo;
        __builtin_memcpy(&hi, p + 8, 8);
        __builtin_memcpy(&lo, p + 16, 8);
        return (hi * 0x9E3779B97F4A7C15ULL) ^ lo ^ 2;
    }
    return 0;
}

// accept4 that also reports the peer's key (see ampora_peer_key).
static inline int ampora_accept4_peer(int fd, int flags, unsigned long long *key) {
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    int r = accept4(fd, (struct sockaddr *)&address, &length, flags);
    *key = r >= 0 ? ampora_peer_key(&address, length) : 0;
    return r;
}

// prctl is variadic, so Swift cannot call it: name the calling thread (shown by top -H, ps -L).
static inline void ampora_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
