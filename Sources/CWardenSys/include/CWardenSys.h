#ifndef CWARDENSYS_H
#define CWARDENSYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// What a child must be set up with between fork and exec. Every pointer is prepared by the caller
/// before the call: the child only makes async-signal-safe system calls.
typedef struct warden_spawn_attr {
    const char *path;          /* absolute path of the program */
    char *const *argv;         /* NULL-terminated */
    char *const *envp;         /* NULL-terminated */
    const char *cwd;           /* NULL: inherit */
    int stdin_fd;              /* dup2'ed onto 0, 1 and 2 */
    int stdout_fd;
    int stderr_fd;
    int new_session;           /* call setsid(): own session and process group */
    int set_ids;               /* drop to uid/gid/groups */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
    const int *cgroup_fds;     /* cgroup.procs files open for writing: the child joins each */
    size_t ncgroup_fds;
} warden_spawn_attr;

/// Stages of the child's setup, reported with errno when one fails.
enum {
    WARDEN_STAGE_NONE = 0,
    WARDEN_STAGE_FORK = 1,
    WARDEN_STAGE_SETSID = 2,
    WARDEN_STAGE_DUP = 3,
    WARDEN_STAGE_CHDIR = 4,
    WARDEN_STAGE_SETGROUPS = 5,
    WARDEN_STAGE_SETGID = 6,
    WARDEN_STAGE_SETUID = 7,
    WARDEN_STAGE_EXEC = 8,
    WARDEN_STAGE_CGROUP = 9,
};

/// Forks and execs. Returns 0 and the child's pid once the child has exec'd, or -1 with the failing
/// stage and errno (the child has then exited with 127 and must still be reaped by the caller).
int warden_spawn(const warden_spawn_attr *attr, pid_t *out_pid, int *out_stage, int *out_errno);

/// Blocks until any child exits; reaps it. Returns 0 with pid, si_code (CLD_EXITED, CLD_KILLED,
/// CLD_DUMPED) and si_status, or -1 with errno (ECHILD when there are no children).
int warden_wait_any(pid_t *out_pid, int *out_code, int *out_status);

/// Reaps one exited child without blocking. Returns 1 when one was reaped, 0 when none is ready,
/// -1 with errno otherwise.
int warden_reap_nohang(pid_t *out_pid, int *out_code, int *out_status);

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
int warden_set_child_subreaper(void);

/// pidfd_open(2): an fd that becomes readable when the process exits, for any process.
int warden_pidfd_open(pid_t pid);

/// pidfd_send_signal(2): signals exactly the process the pidfd refers to.
int warden_pidfd_send_signal(int pidfd, int sig);

/// epoll helpers: epoll_event is packed on x86_64 and awkward to import.
int warden_epoll_create(void);
int warden_epoll_add(int epfd, int fd, uint32_t events, uint64_t token);
int warden_epoll_mod(int epfd, int fd, uint32_t events, uint64_t token);
int warden_epoll_del(int epfd, int fd);
int warden_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms);
uint32_t warden_epollin(void);
uint32_t warden_epollout(void);
uint32_t warden_epollerr(void);
uint32_t warden_epollhup(void);
uint32_t warden_epolloneshot(void);

/// An eventfd used to wake an epoll loop.
int warden_eventfd(void);
int warden_eventfd_signal(int fd);
int warden_eventfd_drain(int fd);

/// A non-blocking, close-on-exec unix datagram socket bound to `path` (a leading '@' means the
/// abstract namespace), with SO_PASSCRED set so senders' pids are known. Returns the fd or -1.
int warden_notify_socket(const char *path);

/// Receives one datagram; returns its length (0..cap) and the sender's pid (0 when unknown),
/// or -1 with errno (EAGAIN when nothing is waiting).
ssize_t warden_notify_recv(int fd, char *buf, size_t cap, pid_t *out_pid);

/// Sends a datagram to a notify socket path (as sd_notify does). Returns 0 or -1 with errno.
int warden_notify_send(const char *path, const char *msg, size_t len);

/// Starts a non-blocking TCP connect to host:port (numeric or resolvable). Returns the fd, with
/// *in_progress set when the connect is still under way, or -1 with errno (or -2 for a
/// resolution failure, with the gai error in *out_errno).
int warden_tcp_connect(const char *host, const char *port, int *in_progress, int *out_errno);

/// The pending error of a socket after its connect finished (SO_ERROR).
int warden_socket_error(int fd);

/// The number of clock ticks per second (for /proc times) and the page size.
long warden_clock_ticks(void);
long warden_page_size(void);

/// A unix stream socket listening on `path` (removed first). Returns the fd or -1.
int warden_unix_listen(const char *path, int backlog);
/// A connected unix stream socket to `path`. Returns the fd or -1.
int warden_unix_connect(const char *path);

/// Blocks the given signal in the calling thread (and threads it creates afterwards).
int warden_block_signal(int sig);

/// accept4 with SOCK_CLOEXEC, retrying on EINTR.
int warden_accept(int fd);

/// Sets FD_CLOEXEC on every fd >= `from` (close_range with CLOSE_RANGE_CLOEXEC).
int warden_cloexec_from(int from);

// ---- libnftables, loaded with dlopen ----
typedef struct warden_nft warden_nft_t;
/// Loads libnftables.so.1 and makes a context; NULL when the library is missing. Not thread-safe:
/// use one handle from one thread at a time.
warden_nft_t *warden_nft_open(void);
/// Runs nft commands (the `nft -f` language); 0 on success. *output and *error are malloc'd
/// copies of what nft printed (free them).
int warden_nft_run(warden_nft_t *nft, const char *commands, char **output, char **error);
void warden_nft_close(warden_nft_t *nft);

/// Gives freed heap memory back to the system (malloc_trim(0)); after a large table was dropped.
void warden_release_free_memory(void);

/// Large blocks (1 MiB and more) always mapped on their own, so that freeing one gives it back.
void warden_tune_malloc(void);

/// Makes stdout line-buffered (progress lines show up at once when it is a file or a pipe).
void warden_stdout_line_buffered(void);

#endif
