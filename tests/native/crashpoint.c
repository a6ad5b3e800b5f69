/* Fault injection for the exactly-once tests, loaded with LD_PRELOAD into the real daemon.
   CRASHPOINT_AT=<substring> CRASHPOINT_N=<n>: the process SIGKILLs itself just before its n-th
   rename whose destination path contains the substring ("/processed/" = after the row is
   durable, before the file moves out; "/.work/" = in the middle of claiming a batch).
   CRASHPOINT_WRITE=<substring> CRASHPOINT_N=<n>: SIGKILL just before the n-th write to a file
   whose path contains the substring ("results.csv": after digits.csv's rows are written and
   fsynced, before the batch's rows are).
   Unset: every call passes straight through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/types.h>

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

static long writes;

ssize_t write(int fd, const void *buf, size_t count) {
    static ssize_t (*next)(int, const void *, size_t);
    if (!next) next = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    const char *at = getenv("CRASHPOINT_WRITE");
    const char *n = getenv("CRASHPOINT_N");
    if (at && n && fd > 2) {
        char link[64], path[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, path, sizeof path - 1);
        if (len > 0) {
            path[len] = 0;
            if (strstr(path, at) && ++writes >= atol(n))
                kill(getpid(), SIGKILL);
        }
    }
    return next(fd, buf, count);
}
