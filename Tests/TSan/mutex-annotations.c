// Makes ThreadSanitizer see the lock hand-offs of Swift's `Synchronization.Mutex` on Linux.
//
// `Mutex.withLock` is inlined into Sluice's code, so its uncontended paths are atomic
// compare-exchanges that TSan instruments (acquire on lock, release on unlock). Under contention
// it calls `_MutexHandle._lockSlow`, `_tryLockSlow` and `_unlockSlow` in
// libswiftSynchronization.so, which is not built with TSan: they spin with plain `lock cmpxchg`
// and hand the lock over with FUTEX_LOCK_PI/FUTEX_UNLOCK_PI system calls. TSan sees none of that,
// so every contended `withLock` looks like a race on the state it guards (a false positive on
// every Mutex in the process, so no narrow suppression exists).
//
// Preloaded into the test processes (LD_PRELOAD, see Tests/TSan/run), this library interposes
// the three slow paths, calls the real ones, and tells TSan what they did: a release on the
// mutex's address before an unlock, an acquire after a lock. That is the happens-before edge the
// kernel provides; nothing else is hidden. The fast paths already use that address (the atomic
// word is the mutex's only field), so TSan joins both paths on one synchronization object.
//
// The symbols are Swift methods on an address-only struct: `self` (the mutex's address) comes in
// the swift_self register, so the functions use the swiftcall convention. Without TSan in the
// process (a Python client, the shell), the weak __tsan_* references are null and the wrappers
// only forward.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SWIFTCALL __attribute__((swiftcall))
#define SWIFT_SELF __attribute__((swift_context))

extern void __tsan_acquire(void *address) __attribute__((weak));
extern void __tsan_release(void *address) __attribute__((weak));

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

typedef SWIFTCALL void (*LockSlow)(uint32_t, SWIFT_SELF void *);
typedef SWIFTCALL bool (*TryLockSlow)(SWIFT_SELF void *);
typedef SWIFTCALL void (*UnlockSlow)(SWIFT_SELF void *);

static void *real(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    if (symbol == NULL) {
        fprintf(stderr, "mutex-annotations: %s not found after this library\n", name);
        abort();
    }
    return symbol;
}

SWIFTCALL void lockSlow(uint32_t owner, SWIFT_SELF void * handle) __asm__(LOCK_SLOW);
SWIFTCALL void lockSlow(uint32_t owner, SWIFT_SELF void * handle) {
    static LockSlow cached;
    LockSlow next = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (next == NULL) {
        next = (LockSlow)real(LOCK_SLOW);
        __atomic_store_n(&cached, next, __ATOMIC_RELEASE);
    }
    next(owner, handle);
    if (__tsan_acquire) __tsan_acquire(handle);
}

SWIFTCALL bool tryLockSlow(SWIFT_SELF void * handle) __asm__(TRY_LOCK_SLOW);
SWIFTCALL bool tryLockSlow(SWIFT_SELF void * handle) {
    static TryLockSlow cached;
    TryLockSlow next = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (next == NULL) {
        next = (TryLockSlow)real(TRY_LOCK_SLOW);
        __atomic_store_n(&cached, next, __ATOMIC_RELEASE);
    }
    bool locked = next(handle);
    if (locked && __tsan_acquire) __tsan_acquire(handle);
    return locked;
}

SWIFTCALL void unlockSlow(SWIFT_SELF void * handle) __asm__(UNLOCK_SLOW);
SWIFTCALL void unlockSlow(SWIFT_SELF void * handle) {
    static UnlockSlow cached;
    UnlockSlow next = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (next == NULL) {
        next = (UnlockSlow)real(UNLOCK_SLOW);
        __atomic_store_n(&cached, next, __ATOMIC_RELEASE);
    }
    if (__tsan_release) __tsan_release(handle);
    next(handle);
}
