#ifndef AMPORA_MUTEX_TSAN_SHIM_H
#define AMPORA_MUTEX_TSAN_SHIM_H

/// 1 when the test binary's calls into the contended paths of Synchronization.Mutex go through
/// the shim (MutexTSanShim.c) and reach the real functions; a test checks it, so the shim cannot
/// silently stop being linked.
int ampora_mutex_tsan_shim_ready(void);

#endif
