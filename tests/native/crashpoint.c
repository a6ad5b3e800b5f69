/* Fault injection for the exactly-once tests, loaded with LD_PRELOAD into the real daemon.
   CRASHPOINT_AT=<substring> CRASHPOINT_N=<n>: the process SIGKILLs itself just before its n-th
   rename whose destination path contains the substring ("/processed/" = after the row is
   durable, before the file moves out; "/.work/" = in the middle of claiming a batch).
   Unset: every call passes straight through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long calls;

static void checkpoint(const char *dst) {
    const char *at = getenv("CRASHPOINT_AT");
    const char *n = getenv("CRASHPOINT_N");
    if (at && n && dst && strstr(dst, at) && ++calls >= atol(n))
        kill(getpid(), SIGKILL);
}

int rename(const char *src, const char *dst) {
    static int (*next)(const char *, const char *);
    if (!next) next = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    checkpoint(dst);
    return next(src, dst);
}

int renameat2(int sfd, const char *src, int dfd, const char *dst, unsigned int flags) {
    static int (*next)(int, const char *, int, const char *, unsigned int);
    if (!next) next = (int (*)(int, const char *, int, const char *, unsigned int))dlsym(RTLD_NEXT, "renameat2");
    checkpoint(dst);
    return next(sfd, src, dfd, dst, flags);
}
