/*
 * escape.c - the attacks of tests/escape.rs, run as a program inside a
 * container. Built static by the test (gcc -static), copied into a test
 * image. Each probe tries one thing root in a container must not do and
 * prints one line:
 *
 *   WORKED <what>            the attack succeeded (exit 0)
 *   REFUSED <errno name>     the kernel said no (exit 1)
 *   NA <why>                 this kernel cannot run the probe at all (exit 2)
 *
 * A probe that cannot succeed proves nothing, so the test runs each one
 * with the defence switched off too, and expects WORKED there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int refused(const char *what)
{
    int e = errno;
    printf("REFUSED %s (%s: %s)\n", strerrorname_np(e) ? strerrorname_np(e) : "?", what,
           strerror(e));
    return 1;
}

static int worked(const char *what)
{
    printf("WORKED %s\n", what);
    return 0;
}

/* keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create) */
static int probe_keyctl(void)
{
    long id = syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* SESSION */, 1);
    return id < 0 ? refused("keyctl") : worked("keyctl: a session keyring of the host's kernel");
}

/* bpf(BPF_MAP_CREATE) of a one-entry array */
static int probe_bpf(void)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    return fd < 0 ? refused("bpf") : worked("bpf: a map in the host's kernel");
}

/* perf_event_open on every process of CPU 0: system-wide observation */
static int probe_perf(void)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    long fd = syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0);
    return fd < 0 ? refused("perf_event_open") : worked("perf_event_open: all of CPU 0");
}

static int probe_unshare_user(void)
{
    return unshare(CLONE_NEWUSER) < 0 ? refused("unshare(CLONE_NEWUSER)")
                                       : worked("unshare(CLONE_NEWUSER)");
}

/* clone(CLONE_NEWUSER) by the raw system call, as a program could */
static int probe_clone_user(void)
{
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return refused("clone(CLONE_NEWUSER)");
    waitpid(pid, NULL, 0);
    return worked("clone(CLONE_NEWUSER)");
}

/* TIOCSTI: push TEXT into the input of the terminal on descriptor FD */
static int probe_tiocsti(int fd, const char *text)
{
    for (const char *c = text; *c; c++)
        if (ioctl(fd, TIOCSTI, c) < 0)
            return refused("ioctl(TIOCSTI)");
    return worked("TIOCSTI: typed into the terminal");
}

/* open(PATH) and read from it: a device node made with mknod */
static int probe_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return refused("open");
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno != EAGAIN && errno != ENXIO)
        return refused("read");
    return worked("opened and read the device");
}

/* Is descriptor FD open (inherited from rd's caller)? */
static int probe_fd(int fd)
{
    return fcntl(fd, F_GETFD) < 0 ? refused("fcntl(F_GETFD)") : worked("the caller's descriptor is open");
}

/* getpid through the i386 entry point (int $0x80, getpid is 20 there) */
static int probe_i386(void)
{
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    if (ret == -ENOSYS)
        return printf("NA the i386 ABI is not built into this kernel\n"), 2;
    if (ret < 0) {
        errno = (int)-ret;
        return refused("int $0x80 getpid");
    }
    return worked("i386 ABI");
#else
    return printf("NA not x86_64\n"), 2;
#endif
}

/* getpid through the x32 ABI (0x40000000 | 39) */
static int probe_x32(void)
{
#if defined(__x86_64__)
    long ret = syscall(0x40000000L | 39);
    if (ret < 0 && errno == ENOSYS)
        return printf("NA the x32 ABI is not enabled in this kernel\n"), 2;
    return ret < 0 ? refused("x32 getpid") : worked("x32 ABI");
#else
    return printf("NA not x86_64\n"), 2;
#endif
}

/* Who am I, and with which capabilities? (/proc/self/status, as is) */
static int probe_status(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return refused("open /proc/self/status");
    char line[256];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Groups:", 7) ||
            !strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "Seccomp:", 8))
            fputs(line, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: escape keyctl|bpf|perf|unshare-user|clone-user|i386|x32|"
                        "status|tiocsti FD TEXT|read PATH|fd N\n");
        return 3;
    }
    const char *p = argv[1];
    if (!strcmp(p, "keyctl"))
        return probe_keyctl();
    if (!strcmp(p, "bpf"))
        return probe_bpf();
    if (!strcmp(p, "perf"))
        return probe_perf();
    if (!strcmp(p, "unshare-user"))
        return probe_unshare_user();
    if (!strcmp(p, "clone-user"))
        return probe_clone_user();
    if (!strcmp(p, "i386"))
        return probe_i386();
    if (!strcmp(p, "x32"))
        return probe_x32();
    if (!strcmp(p, "status"))
        return probe_status();
    if (!strcmp(p, "tiocsti") && argc == 4)
        return probe_tiocsti(atoi(argv[2]), argv[3]);
    if (!strcmp(p, "read") && argc == 3)
        return probe_read(argv[2]);
    if (!strcmp(p, "fd") && argc == 3)
        return probe_fd(atoi(argv[2]));
    fprintf(stderr, "escape: unknown probe %s\n", p);
    return 3;
}
