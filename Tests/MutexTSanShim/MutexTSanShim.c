// Teaches ThreadSanitizer about Synchronization.Mutex's contended paths, in the test binary only.
//
// On Linux, Mutex.withLock inlines its fast paths (an acquiring compare-exchange to lock, a
// releasing one to unlock) into our code, where the sanitizer sees them. Under contention it
// calls _MutexHandle._lockSlow / _unlockSlow in libswiftSynchronization.so instead: a spin in a
// library built without instrumentation, then a futex the kernel hands over. ThreadSanitizer
// sees neither, misses the happens-before edge between the previous holder's unlock and the new
// holder's lock, and reports every contended critical section as a race (it did, 50 times in one
// run of the suite, all of them on state only touched inside withLock).
//
// This file defines those two symbols (and _tryLockSlow) under their Swift mangled names. The
// test binary's own definitions win over the shared library's at link time, so every call our
// code makes lands here; each forwards to the real function (dlsym RTLD_NEXT) and tells the
// sanitizer what it did: __tsan_acquire on the lock word after taking the lock,
// __tsan_release before giving it up. Those are the same sync object as the inlined atomics, so
// fast and slow paths now pair up in any combination. Without ThreadSanitizer the weak
// __tsan_* symbols are null and the shim only forwards.
//
// ABI: `borrowing func` on the address-only _MutexHandle passes self's address in the Swift
// self register (clang's swift_context), other arguments as for swiftcall.
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "MutexTSanShim.h"

extern void __tsan_acquire(void *addr) __attribute__((weak));
extern void __tsan_release(void *addr) __attribute__((weak));

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"

typedef __attribute__((swiftcall)) void (*lock_slow_fn)(uint32_t, void *__attribute__((swift_context)));
typedef __attribute__((swiftcall)) void (*unlock_slow_fn)(void *__attribute__((swift_context)));
typedef __attribute__((swiftcall)) bool (*try_lock_slow_fn)(void *__attribute__((swift_context)));

static lock_slow_fn real_lock_slow;
static unlock_slow_fn real_unlock_slow;
static try_lock_slow_fn real_try_lock_slow;

// A toolchain whose Mutex no longer has these functions does not call them either (our code
// only reaches them through the library's inlined fast paths), so a missing one is not fatal:
// the shim is then unused, says so here, and MutexContentionTests fails until it is updated.
static void *next_symbol(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) fprintf(stderr, "MutexTSanShim: %s not found in libswiftSynchronization\n", name);
    return f;
}

// Resolved before main, so the first contended lock does not race on these pointers.
__attribute__((constructor)) static void resolve(void) {
    real_lock_slow = (lock_slow_fn)next_symbol(LOCK_SLOW);
    real_unlock_slow = (unlock_slow_fn)next_symbol(UNLOCK_SLOW);
    real_try_lock_slow = (try_lock_slow_fn)next_symbol(TRY_LOCK_SLOW);
}

int ampora_mutex_tsan_shim_ready(void) {
    return real_lock_slow != NULL && real_unlock_slow != NULL && real_try_lock_slow != NULL;
}

__attribute__((swiftcall)) void lock_slow(uint32_t self_id, void *__attribute__((swift_context)) self)
    __asm__(LOCK_SLOW);
__attribute__((swiftcall)) void lock_slow(uint32_t self_id, void *__attribute__((swift_context)) self) {
    real_lock_slow(self_id, self);
    if (__tsan_acquire) __tsan_acquire(self);
}

__attribute__((swiftcall)) void unlock_slow(void *__attribute__((swift_context)) self) __asm__(UNLOCK_SLOW);
__attribute__((swiftcall)) void unlock_slow(void *__attribute__((swift_context)) self) {
    if (__tsan_release) __tsan_release(self);
    real_unlock_slow(self);
}

__attribute__((swiftcall)) bool try_lock_slow(void *__attribute__((swift_context)) self) __asm__(TRY_LOCK_SLOW);
__attribute__((swiftcall)) bool try_lock_slow(void *__attribute__((swift_context)) self) {
    bool locked = real_try_lock_slow(self);
    if (locked && __tsan_acquire) __tsan_acquire(self);
    return locked;
}
