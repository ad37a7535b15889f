#define _GNU_SOURCE
#include "CWardenSys.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void child_fail(int errfd, int stage) {
    int report[2] = {stage, errno};
    ssize_t ignored = write(errfd, report, sizeof(report));
    (void)ignored;
    _exit(127);
}

int warden_spawn(const warden_spawn_attr *a, pid_t *out_pid, int *out_stage, int *out_errno) {
    int pipefd[2];
    *out_stage = WARDEN_STAGE_NONE;
    *out_errno = 0;
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        *out_stage = WARDEN_STAGE_FORK;
        *out_errno = errno;
        return -1;
    }
    /* Block every signal so that the child cannot run one of the parent's handlers before it has
       reset them; the parent restores its mask right after fork. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);

    pid_t pid = fork();
    if (pid == 0) {
        int errfd = pipefd[1];
        /* Default dispositions: an ignored SIGPIPE or SIGCHLD would be inherited across exec. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig == SIGKILL || sig == SIGSTOP) continue;
            sigaction(sig, &dfl, NULL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);

        if (a->new_session && setsid() < 0) child_fail(errfd, WARDEN_STAGE_SETSID);

        /* Join the service's cgroups before anything else runs, so that no process of the service
           (not even one forked before exec) starts outside them; "0" names the writer. Done before
           the privilege drop, which would take away the right to write there. */
        for (size_t i = 0; i < a->ncgroup_fds; i++) {
            ssize_t w;
            do {
                w = write(a->cgroup_fds[i], "0", 1);
            } while (w < 0 && errno == EINTR);
            if (w != 1) child_fail(errfd, WARDEN_STAGE_CGROUP);
        }

        /* Move the three fds out of the way first so that dup2 cannot clobber one with another. */
        int fds[3] = {a->stdin_fd, a->stdout_fd, a->stderr_fd};
        for (int i = 0; i < 3; i++) {
            if (fds[i] >= 0 && fds[i] < 3) {
                int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                if (moved < 0) child_fail(errfd, WARDEN_STAGE_DUP);
                fds[i] = moved;
            }
        }
        for (int i = 0; i < 3; i++) {
            if (fds[i] >= 0 && dup2(fds[i], i) < 0) child_fail(errfd, WARDEN_STAGE_DUP);
        }
        if (a->cwd != NULL && chdir(a->cwd) != 0) child_fail(errfd, WARDEN_STAGE_CHDIR);
        if (a->set_ids) {
            /* Raw system calls: the glibc wrappers synchronise credentials across threads, which is
               not async-signal-safe. */
            if (syscall(SYS_setgroups, a->ngroups, a->groups) != 0) child_fail(errfd, WARDEN_STAGE_SETGROUPS);
            if (syscall(SYS_setresgid, a->gid, a->gid, a->gid) != 0) child_fail(errfd, WARDEN_STAGE_SETGID);
            if (syscall(SYS_setresuid, a->uid, a->uid, a->uid) != 0) child_fail(errfd, WARDEN_STAGE_SETUID);
        }
        /* Nothing of Warden's leaks into the service: every other fd closes on exec. */
        if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
            long max = sysconf(_SC_OPEN_MAX);
            if (max < 0 || max > 65536) max = 65536;
            for (int fd = 3; fd < max; fd++) {
                if (fd != errfd) fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
        execve(a->path, a->argv, a->envp);
        child_fail(errfd, WARDEN_STAGE_EXEC);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        *out_stage = WARDEN_STAGE_FORK;
        *out_errno = fork_errno;
        return -1;
    }
    *out_pid = pid;
    int report[2] = {0, 0};
    ssize_t n;
    do {
        n = read(pipefd[0], report, sizeof(report));
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof(report)) {
        *out_stage = report[0];
        *out_errno = report[1];
        return -1;
    }
    return 0;
}

int warden_wait_any(pid_t *out_pid, int *out_code, int *out_status) {
    siginfo_t info;
    for (;;) {
        memset(&info, 0, sizeof(info));
        if (waitid(P_ALL, 0, &info, WEXITED) == 0) break;
        if (errno != EINTR) return -1;
    }
    *out_pid = info.si_pid;
    *out_code = info.si_code;
    *out_status = info.si_status;
    return 0;
}

int warden_reap_nohang(pid_t *out_pid, int *out_code, int *out_status) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0) return -1;
    if (info.si_pid == 0) return 0;
    *out_pid = info.si_pid;
    *out_code = info.si_code;
    *out_status = info.si_status;
    return 1;
}

int warden_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int warden_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int warden_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int warden_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int warden_epoll_add(int epfd, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int warden_epoll_mod(int epfd, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

int warden_epoll_del(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int warden_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n;
    do {
        n = epoll_wait(epfd, evs, max, timeout_ms);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) {
        tokens[i] = evs[i].data.u64;
        events[i] = evs[i].events;
    }
    return n;
}

uint32_t warden_epollin(void) { return EPOLLIN; }
uint32_t warden_epollout(void) { return EPOLLOUT; }
uint32_t warden_epollerr(void) { return EPOLLERR; }
uint32_t warden_epollhup(void) { return EPOLLHUP; }
uint32_t warden_epolloneshot(void) { return EPOLLONESHOT; }

int warden_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int warden_eventfd_signal(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

int warden_eventfd_drain(int fd) {
    uint64_t value;
    return read(fd, &value, sizeof(value)) == sizeof(value) ? 0 : -1;
}

static socklen_t fill_unix_addr(struct sockaddr_un *addr, const char *path) {
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(addr->sun_path)) {
        errno = ENAMETOOLONG;
        return 0;
    }
    memcpy(addr->sun_path, path, len);
    if (path[0] == '@') {
        addr->sun_path[0] = '\0';
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int warden_notify_socket(const char *path) {
    struct sockaddr_un addr;
    socklen_t len = fill_unix_addr(&addr, path);
    if (len == 0) return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (path[0] != '@') unlink(path);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, len) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

ssize_t warden_notify_recv(int fd, char *buf, size_t cap, pid_t *out_pid) {
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    union {
        struct cmsghdr align;
        char data[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = &control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do {
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_TRUNC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    *out_pid = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            *out_pid = cred.pid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            /* Warden keeps no fd store: close anything passed to it. */
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *fds = (int *)CMSG_DATA(c);
            for (int i = 0; i < count; i++) close(fds[i]);
        }
    }
    if ((size_t)n > cap) n = (ssize_t)cap;
    return n;
}

int warden_notify_send(const char *path, const char *msg, size_t len) {
    struct sockaddr_un addr;
    socklen_t alen = fill_unix_addr(&addr, path);
    if (alen == 0) return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    ssize_t n = sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&addr, alen);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

int warden_tcp_connect(const char *host, const char *port, int *in_progress, int *out_errno) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    *in_progress = 0;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        *out_errno = gai;
        return -2;
    }
    int fd = -1;
    int err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            *in_progress = 1;
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) *out_errno = err;
    return fd;
}

int warden_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

long warden_clock_ticks(void) { return sysconf(_SC_CLK_TCK); }
long warden_page_size(void) { return sysconf(_SC_PAGESIZE); }

int warden_unix_listen(const char *path, int backlog) {
    struct sockaddr_un addr;
    socklen_t len = fill_unix_addr(&addr, path);
    if (len == 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (path[0] != '@') unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, len) != 0 || listen(fd, backlog) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int warden_unix_connect(const char *path) {
    struct sockaddr_un addr;
    socklen_t len = fill_unix_addr(&addr, path);
    if (len == 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, len) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int warden_block_signal(int sig) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int warden_cloexec_from(int from) {
    return (int)syscall(SYS_close_range, (unsigned)from, ~0U, CLOSE_RANGE_CLOEXEC);
}

int warden_accept(int fd) {
    int client;
    do {
        client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    } while (client < 0 && errno == EINTR);
    return client;
}

#include <malloc.h>

void warden_release_free_memory(void) { malloc_trim(0); }

void warden_tune_malloc(void) {
    // A fixed threshold: blocks of 1 MiB and more (the ban table's and the tracked addresses'
    // arrays, a long list's buffers) are mapped and unmapped on their own. glibc otherwise raises
    // the threshold after the first such block is freed, and later ones come from the heap,
    // where what is freed around them stays resident.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
}
