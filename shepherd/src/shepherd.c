/*
 * shepherd — drover's per-child watchdog.
 *
 * The manager starts one shepherd per child with one end of a SOCK_SEQPACKET socketpair as fd 3.
 * The shepherd receives a SPAWN message (reassembled from its records), starts the child in its
 * own process group with real pipes, hands the parent ends of the pipes back over SCM_RIGHTS (it is
 * then out of the data path), relays SIGNAL, runs STOP escalation itself, reports EXITED with
 * rusage, and stops the child's whole tree if the manager goes away (hangup on fd 3). It is child
 * subreaper and kills by freezing first (tree.h), so no descendant outlives it. See ../protocol.h.
 *
 * Habits from tini (src/tini.c): main() reads as the algorithm, every helper returns 0 on success
 * and 1 on failure, every syscall is checked and logged with its name and strerror(errno).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#define LOG_PROGRAM "shepherd"
#include "common.h"
#include "tree.h"

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif


static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- SPAWN parsing */

struct rlimit_request {
  uint32_t resource;
  uint64_t soft;
  uint64_t hard;
};

struct spawn_request {
  uint8_t stdio_mode[3];
  uint8_t flags; /* SPAWN_FLAG_* */
  uint32_t kill_grace_ms;
  uint32_t pipe_size;
  uint16_t columns, rows;
  uint32_t rlimit_count;
  struct rlimit_request rlimits[SHEPHERD_MAX_RLIMITS];
  char *cwd;   /* NUL-terminated, points into arena; "" = inherit */
  char *cgroup; /* NUL-terminated absolute path, or "" for none */
  char **argv; /* NULL-terminated */
  char **envp; /* NULL-terminated */
  char *arena; /* owns all strings and the two pointer arrays */
};

struct reader {
  const uint8_t *p;
  size_t left;
};

static int read_u8(struct reader *r, uint8_t *out) {
  if (r->left < 1) return 1;
  *out = r->p[0];
  r->p += 1;
  r->left -= 1;
  return 0;
}

static int read_u16(struct reader *r, uint16_t *out) {
  if (r->left < 2) return 1;
  *out = get_u16(r->p);
  r->p += 2;
  r->left -= 2;
  return 0;
}

static int read_u64(struct reader *r, uint64_t *out) {
  if (r->left < 8) return 1;
  *out = get_u64(r->p);
  r->p += 8;
  r->left -= 8;
  return 0;
}

static int read_u32(struct reader *r, uint32_t *out) {
  if (r->left < 4) return 1;
  *out = get_u32(r->p);
  r->p += 4;
  r->left -= 4;
  return 0;
}

/* Copies a length-prefixed string into *arena_ptr (NUL-terminated) and advances it. */
static int read_str(struct reader *r, char **arena_ptr, char **out) {
  uint32_t len;
  if (read_u32(r, &len) || len > r->left) return 1;
  if (memchr(r->p, '\0', len) != NULL) return 1; /* embedded NUL would truncate silently */
  memcpy(*arena_ptr, r->p, len);
  (*arena_ptr)[len] = '\0';
  *out = *arena_ptr;
  *arena_ptr += len + 1;
  r->p += len;
  r->left -= len;
  return 0;
}

/*
 * Parses a SPAWN payload. Pure function of its input (fuzzable): on success fills *req, whose
 * arena the caller frees; on failure returns 1 with a static reason in *why and allocates nothing.
 */
int parse_spawn(const uint8_t *payload, size_t len, struct spawn_request *req, const char **why) {
  struct reader r = {payload, len};
  uint32_t argc, envc;
  memset(req, 0, sizeof *req);
  *why = "truncated SPAWN";
  if (read_u8(&r, &req->stdio_mode[0]) || read_u8(&r, &req->stdio_mode[1]) ||
      read_u8(&r, &req->stdio_mode[2]) || read_u8(&r, &req->flags) ||
      read_u32(&r, &req->kill_grace_ms) || read_u32(&r, &req->pipe_size) ||
      read_u16(&r, &req->columns) || read_u16(&r, &req->rows) || read_u32(&r, &argc) ||
      read_u32(&r, &envc) || read_u32(&r, &req->rlimit_count))
    return 1;
  for (int i = 0; i < 3; i++) {
    if (req->stdio_mode[i] != STDIO_PIPE && req->stdio_mode[i] != STDIO_NULL) {
      *why = "stdio mode out of range";
      return 1;
    }
    if ((req->flags & SPAWN_FLAG_PTY) && req->stdio_mode[i] != STDIO_PIPE) {
      *why = "a pty needs every stdio mode to be STDIO_PIPE";
      return 1;
    }
  }
  if ((req->flags & ~(uint8_t)SPAWN_FLAG_PTY) != 0) {
    *why = "unknown SPAWN flags";
    return 1;
  }
  if (req->pipe_size > SHEPHERD_MAX_PIPE_SIZE) {
    *why = "pipe size out of range";
    return 1;
  }
  if (argc < 1 || argc > SHEPHERD_MAX_ARGS || envc > SHEPHERD_MAX_ARGS) {
    *why = "argc or envc out of range";
    return 1;
  }
  if (req->rlimit_count > SHEPHERD_MAX_RLIMITS) {
    *why = "rlimit count out of range";
    return 1;
  }
  /* Each string is at least 4 bytes on the wire, so the counts bound the arena. */
  if ((size_t)(argc + envc + 2) * 4 + (size_t)req->rlimit_count * RLIMIT_ENTRY_SIZE > r.left)
    return 1;
  size_t pointers = (size_t)(argc + 1 + envc + 1) * sizeof(char *);
  size_t text = len + argc + envc + 2; /* every string plus its NUL fits in payload + count */
  char *arena = malloc(pointers + text);
  if (arena == NULL) {
    *why = "out of memory";
    return 1;
  }
  char **argv = (char **)(void *)arena;
  char **envp = argv + argc + 1;
  char *strings = arena + pointers;
  if (read_str(&r, &strings, &req->cwd) || read_str(&r, &strings, &req->cgroup)) goto bad;
  if (req->cgroup[0] != '\0' && (req->cgroup[0] != '/' || strlen(req->cgroup) >= SHEPHERD_MAX_PATH)) {
    *why = "cgroup is not an absolute path below SHEPHERD_MAX_PATH";
    goto bad;
  }
  for (uint32_t i = 0; i < argc; i++)
    if (read_str(&r, &strings, &argv[i])) goto bad;
  argv[argc] = NULL;
  for (uint32_t i = 0; i < envc; i++) {
    if (read_str(&r, &strings, &envp[i])) goto bad;
    if (strchr(envp[i], '=') == NULL || envp[i][0] == '=') {
      *why = "env entry without KEY=";
      goto bad;
    }
  }
  envp[envc] = NULL;
  for (uint32_t i = 0; i < req->rlimit_count; i++) {
    struct rlimit_request *rl = &req->rlimits[i];
    if (read_u32(&r, &rl->resource) || read_u64(&r, &rl->soft) || read_u64(&r, &rl->hard)) goto bad;
    if (rl->resource >= SHEPHERD_MAX_RLIMITS || rl->soft > rl->hard) {
      *why = "rlimit resource out of range or soft above hard";
      goto bad;
    }
  }
  if (r.left != 0) {
    *why = "trailing bytes in SPAWN";
    goto bad;
  }
  if (argv[0][0] == '\0') {
    *why = "empty argv[0]";
    goto bad;
  }
  req->argv = argv;
  req->envp = envp;
  req->arena = arena;
  return 0;
bad:
  free(arena);
  memset(req, 0, sizeof *req);
  return 1;
}

/*
 * Reassembly of a SPAWN message from its records (protocol.h): the first record announces the
 * payload's total length, continuation records carry the rest. Pure function of its inputs
 * (fuzzable, with parse_spawn, by shepherd/fuzz/parse-spawn-fuzzer.c).
 */
struct spawn_assembly {
  uint8_t *payload; /* total bytes, allocated when the first record arrives */
  uint32_t total;
  uint32_t have;
};

/*
 * Feeds one record (header included). Returns 1 once the payload is complete (the caller owns and
 * frees a->payload), 0 while more records are needed, -1 when the record is refused: *why names
 * the reason and the assembly is reset (nothing stays allocated).
 */
int spawn_assembly_add(struct spawn_assembly *a, const uint8_t *record, size_t n, const char **why) {
  if (n < PROTOCOL_HEADER_SIZE || get_u16(record) != PROTOCOL_VERSION) {
    *why = "expected a SPAWN message of this protocol version";
    goto bad;
  }
  if (get_u32(record + 4) != n - PROTOCOL_HEADER_SIZE) {
    *why = "record length does not match its header";
    goto bad;
  }
  uint16_t type = get_u16(record + 2);
  const uint8_t *p = record + PROTOCOL_HEADER_SIZE;
  size_t len = n - PROTOCOL_HEADER_SIZE;
  if (a->payload == NULL) {
    if (type != MSG_SPAWN) {
      *why = "expected a SPAWN message of this protocol version";
      goto bad;
    }
    if (len < SPAWN_TOTAL_SIZE) {
      *why = "truncated SPAWN";
      goto bad;
    }
    uint32_t total = get_u32(p);
    p += SPAWN_TOTAL_SIZE;
    len -= SPAWN_TOTAL_SIZE;
    if (total == 0 || total > SHEPHERD_MAX_SPAWN) {
      *why = "SPAWN length out of range (1..SHEPHERD_MAX_SPAWN)";
      goto bad;
    }
    a->payload = malloc(total);
    if (a->payload == NULL) {
      *why = "out of memory";
      goto bad;
    }
    a->total = total;
    a->have = 0;
  } else if (type != MSG_SPAWN_MORE || len == 0) {
    *why = "expected a non-empty SPAWN_MORE record";
    goto bad;
  }
  if (len > (size_t)(a->total - a->have)) {
    *why = "SPAWN records carry more bytes than announced";
    goto bad;
  }
  if (len > 0) memcpy(a->payload + a->have, p, len);
  a->have += (uint32_t)len;
  return a->have == a->total ? 1 : 0;
bad:
  free(a->payload);
  memset(a, 0, sizeof *a);
  return -1;
}

/* ---------------------------------------------------------------- sending */

static int send_message(int fd, uint16_t type, const uint8_t *payload, uint32_t len, const int *fds,
                        int nfds) {
  uint8_t buf[PROTOCOL_HEADER_SIZE + 512];
  if (len > sizeof buf - PROTOCOL_HEADER_SIZE) return 1;
  put_u16(buf, PROTOCOL_VERSION);
  put_u16(buf + 2, type);
  put_u32(buf + 4, len);
  if (len) memcpy(buf + PROTOCOL_HEADER_SIZE, payload, len);
  int err = send_with_fds(fd, buf, PROTOCOL_HEADER_SIZE + len, fds, nfds);
  if (err == 0) return 0;
  /* EPIPE/ECONNRESET: the manager is gone; the main loop's hangup path takes over. EAGAIN: the
   * SO_SNDTIMEO deadline passed with a full socket buffer. */
  PRINT_WARN("sendmsg(type %u) failed: %s", (unsigned)type, strerror(err));
  return 1;
}

static void send_error(int fd, int err, const char *message) {
  uint8_t payload[8 + 256];
  size_t len = strlen(message);
  if (len > 256) len = 256;
  put_u32(payload, (uint32_t)err);
  put_u32(payload + 4, (uint32_t)len);
  memcpy(payload + 8, message, len);
  send_message(fd, MSG_ERROR, payload, (uint32_t)(8 + len), NULL, 0);
}

/* ---------------------------------------------------------------- child start */

struct child {
  pid_t pid;
  pid_t pgid;
  int reaped;
  int pidfd;       /* pidfd_open(2) of pid, or -1 where the kernel lacks it */
  int pty_master;  /* the shepherd's own descriptor of the pty master (WINSIZE), or -1 */
  char cgroup[SHEPHERD_MAX_PATH]; /* the child's cgroup directory, or "" */
  uint32_t pipe_sizes[3];
};

static __attribute__((noreturn)) void child_report_and_exit(int status_fd, int err, int stage) {
  int32_t report[2] = {err, stage};
  ssize_t ignored = write(status_fd, report, sizeof report);
  (void)ignored; /* nothing left to do if the shepherd stopped listening */
  _exit(127);
}

/* execve argv[0], searching PATH from the child's own environment when it has no '/'. */
static int exec_in_path(char **argv, char **envp) {
  const char *file = argv[0];
  if (strchr(file, '/') != NULL) {
    execve(file, argv, envp);
    return errno;
  }
  const char *path = "/usr/local/bin:/usr/bin:/bin";
  for (char **e = envp; *e != NULL; e++) {
    if (strncmp(*e, "PATH=", 5) == 0) {
      path = *e + 5;
      break;
    }
  }
  int saw_eacces = 0;
  int last = ENOENT;
  size_t flen = strlen(file);
  char candidate[PATH_MAX];
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    size_t dlen = (size_t)(end - p);
    if (dlen == 0) { /* empty PATH element means the current directory */
      if (flen + 1 <= sizeof candidate) memcpy(candidate, file, flen + 1);
    } else if (dlen + 1 + flen + 1 <= sizeof candidate) {
      memcpy(candidate, p, dlen);
      candidate[dlen] = '/';
      memcpy(candidate + dlen + 1, file, flen + 1);
    } else {
      last = ENAMETOOLONG;
      goto next;
    }
    execve(candidate, argv, envp);
    if (errno == EACCES) saw_eacces = 1;
    else if (errno != ENOENT && errno != ENOTDIR) last = errno;
  next:
    if (*end == '\0') break;
    p = end;
  }
  return saw_eacces ? EACCES : last;
}

/* Writes a short string to a file (cgroup control files); 0 on success, else errno. */
static int write_file(const char *dir, const char *name, const char *text) {
  char path[SHEPHERD_MAX_PATH + 32];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return ENAMETOOLONG;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t len = strlen(text);
  ssize_t n;
  do {
    n = write(fd, text, len);
  } while (n < 0 && errno == EINTR);
  int err = n == (ssize_t)len ? 0 : (n < 0 ? errno : EIO);
  close(fd);
  return err;
}

/* Runs in the forked child; never returns. Only the child's own state is touched, and only
 * async-signal-safe calls are made (the shepherd is single-threaded, but habits matter). */
static __attribute__((noreturn)) void run_child(const struct spawn_request *req, int stdio_fds[3],
                                                int pty_slave, int status_fd) {
  /* Join the cgroup first: nothing of the command may run outside it (exec is gated on it). */
  if (req->cgroup[0] != '\0') {
    int err = write_file(req->cgroup, "cgroup.procs", "0");
    if (err != 0) child_report_and_exit(status_fd, err, STAGE_CGROUP);
  }
  /* Signal dispositions and mask are inherited across exec: hand the child a clean slate
   * (the shepherd ignores SIGPIPE and blocks SIGCHLD for itself). */
  sigset_t empty;
  sigemptyset(&empty);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL); /* EINVAL for SIGKILL/SIGSTOP is fine */
  sigprocmask(SIG_SETMASK, &empty, NULL);
  if (pty_slave >= 0) {
    /* A new session with the pty as controlling terminal; setsid also makes the child a process
     * group leader, so the group policy works as without a pty. */
    if (setsid() < 0) child_report_and_exit(status_fd, errno, STAGE_PTY);
    if (ioctl(pty_slave, TIOCSCTTY, 0) != 0) child_report_and_exit(status_fd, errno, STAGE_PTY);
  } else if (setpgid(0, 0) != 0) {
    child_report_and_exit(status_fd, errno, STAGE_SETUP);
  }
  for (int i = 0; i < 3; i++) {
    if (dup2(stdio_fds[i], i) < 0) child_report_and_exit(status_fd, errno, STAGE_SETUP);
  }
  for (uint32_t i = 0; i < req->rlimit_count; i++) {
    const struct rlimit_request *rl = &req->rlimits[i];
    struct rlimit lim = {
        .rlim_cur = rl->soft == SHEPHERD_RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)rl->soft,
        .rlim_max = rl->hard == SHEPHERD_RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)rl->hard,
    };
    if (setrlimit((int)rl->resource, &lim) != 0) child_report_and_exit(status_fd, errno, STAGE_RLIMIT);
  }
  if (req->cwd[0] != '\0' && chdir(req->cwd) != 0)
    child_report_and_exit(status_fd, errno, STAGE_CHDIR);
  int err = exec_in_path(req->argv, req->envp);
  child_report_and_exit(status_fd, err, STAGE_EXEC);
}

/*
 * Starts the child with vfork(2): the shepherd stays suspended until the child has exec'd (or
 * _exited after reporting a failure on the status pipe), so no page tables are copied and the
 * child's set-up does not wait behind its parent for a CPU (spawn → running p99). The
 * child shares our memory until exec: run_child only writes its own stack frames and makes system
 * calls, and never returns. A function of its own so no local of start_child can be clobbered.
 */
static __attribute__((noinline)) pid_t vfork_child(const struct spawn_request *req, int stdio_fds[3],
                                                   int pty_slave, const int status_pipe[2]) {
  pid_t pid = vfork();
  if (pid == 0) {
    close(status_pipe[0]);
    run_child(req, stdio_fds, pty_slave, status_pipe[1]);
  }
  return pid;
}

static int open_null(int flags, int *fd_ptr) {
  int fd = open("/dev/null", flags | O_CLOEXEC);
  if (fd < 0) {
    PRINT_FATAL("open(/dev/null) failed: %s", strerror(errno));
    return 1;
  }
  *fd_ptr = fd;
  return 0;
}

/* Opens a pty pair: master and slave both close-on-exec (the child gets the slave by dup2). */
static int open_pty(const struct spawn_request *req, int *master_ptr, int *slave_ptr) {
  char name[128];
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return errno;
  if (grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, name, sizeof name) != 0) {
    int err = errno;
    close(master);
    return err;
  }
  int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    int err = errno;
    close(master);
    return err;
  }
  struct winsize ws = {.ws_col = req->columns ? req->columns : 80, .ws_row = req->rows ? req->rows : 24};
  if (ioctl(master, TIOCSWINSZ, &ws) != 0) PRINT_WARN("ioctl(TIOCSWINSZ) failed: %s", strerror(errno));
  *master_ptr = master;
  *slave_ptr = slave;
  return 0;
}

/* Creates a pipe, sized as requested: a failed F_SETPIPE_SZ (EPERM above pipe-max-size for
 * unprivileged users, EBUSY over the per-user budget) keeps the default and is only logged. */
static int open_pipe(uint32_t size, int p[2], uint32_t *actual_ptr) {
  if (pipe2(p, O_CLOEXEC) != 0) return errno;
  if (size > 0 && fcntl(p[1], F_SETPIPE_SZ, (int)size) < 0)
    PRINT_INFO("fcntl(F_SETPIPE_SZ, %u) failed: %s", size, strerror(errno));
  int actual = fcntl(p[1], F_GETPIPE_SZ);
  *actual_ptr = actual > 0 ? (uint32_t)actual : 0;
  return 0;
}

/*
 * Creates the pipes (or pty), the cgroup, forks, and waits for the child to exec. On success
 * *child is filled and parent_fds holds the parent ends (-1 for STDIO_NULL). On exec failure
 * exec_errno and exec_stage are set and the child is reaped. Returns 1 only on shepherd-internal
 * failure.
 */
static int start_child(const struct spawn_request *req, struct child *child, int parent_fds[3],
                       int *exec_errno, int *exec_stage) {
  int child_fds[3] = {-1, -1, -1};
  int status_pipe[2] = {-1, -1};
  int pty_slave = -1;
  int rc = 1;
  int err;
  *exec_errno = 0;
  parent_fds[0] = parent_fds[1] = parent_fds[2] = -1;
  child->pty_master = -1;
  child->pidfd = -1;
  child->cgroup[0] = '\0';
  memset(child->pipe_sizes, 0, sizeof child->pipe_sizes);
  if (req->flags & SPAWN_FLAG_PTY) {
    int master = -1;
    if ((err = open_pty(req, &master, &pty_slave)) != 0) {
      *exec_errno = err;
      *exec_stage = STAGE_PTY;
      rc = 0;
      goto out;
    }
    child->pty_master = master;
    /* stdout slot: the master, read by the manager; stdin slot: a second descriptor of it, so the
     * manager's reader and writer are separate handles. */
    parent_fds[1] = fcntl(master, F_DUPFD_CLOEXEC, 3);
    parent_fds[0] = fcntl(master, F_DUPFD_CLOEXEC, 3);
    if (parent_fds[0] < 0 || parent_fds[1] < 0) {
      PRINT_FATAL("fcntl(F_DUPFD_CLOEXEC) failed: %s", strerror(errno));
      goto out;
    }
    child_fds[0] = child_fds[1] = child_fds[2] = pty_slave;
  } else {
    for (int i = 0; i < 3; i++) {
      if (req->stdio_mode[i] == STDIO_NULL) {
        if (open_null(i == 0 ? O_RDONLY : O_WRONLY, &child_fds[i])) goto out;
        continue;
      }
      int p[2];
      if ((err = open_pipe(req->pipe_size, p, &child->pipe_sizes[i])) != 0) {
        PRINT_FATAL("pipe2 failed: %s", strerror(err));
        errno = err;
        goto out;
      }
      /* stdin: child reads p[0], manager writes p[1]; stdout/stderr: child writes p[1]. */
      child_fds[i] = i == 0 ? p[0] : p[1];
      parent_fds[i] = i == 0 ? p[1] : p[0];
    }
  }
  if (req->cgroup[0] != '\0') {
    if (mkdir(req->cgroup, 0755) != 0 && errno != EEXIST) {
      *exec_errno = errno;
      *exec_stage = STAGE_CGROUP;
      rc = 0;
      goto out;
    }
    memcpy(child->cgroup, req->cgroup, strlen(req->cgroup) + 1);
  }
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    PRINT_FATAL("pipe2(status) failed: %s", strerror(errno));
    goto out;
  }
  pid_t pid = vfork_child(req, child_fds, pty_slave, status_pipe);
  if (pid < 0) {
    *exec_errno = errno;
    *exec_stage = STAGE_SETUP;
    rc = 0;
    goto out;
  }
  /* Both sides call setpgid so the group exists before either proceeds (the classic job-control
   * race); EACCES means the child already exec'd, which it only does after its own setpgid. With
   * a pty the child makes its own session instead, and setpgid here would make its setsid fail. */
  if (pty_slave < 0 && setpgid(pid, pid) != 0 && errno != EACCES)
    PRINT_DEBUG("setpgid(%d) in parent: %s", (int)pid, strerror(errno));
  child->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (child->pidfd < 0) PRINT_DEBUG("pidfd_open failed: %s; SIGCHLD only", strerror(errno));
  close(status_pipe[1]);
  status_pipe[1] = -1;
  int32_t report[2];
  ssize_t n;
  do {
    n = read(status_pipe[0], report, sizeof report);
  } while (n < 0 && errno == EINTR);
  child->pid = pid;
  child->pgid = pid;
  child->reaped = 0;
  if (n == (ssize_t)sizeof report) {
    *exec_errno = report[0];
    *exec_stage = report[1];
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    child->reaped = 1;
  }
  rc = 0; /* EOF: exec succeeded (the status pipe is close-on-exec) */
out:
  if (pty_slave >= 0) {
    close(pty_slave);
    child_fds[0] = child_fds[1] = child_fds[2] = -1;
  }
  for (int i = 0; i < 3; i++)
    if (child_fds[i] >= 0) close(child_fds[i]);
  if (status_pipe[0] >= 0) close(status_pipe[0]);
  if (status_pipe[1] >= 0) close(status_pipe[1]);
  if (rc != 0 || *exec_errno != 0) {
    for (int i = 0; i < 3; i++)
      if (parent_fds[i] >= 0) close(parent_fds[i]);
    parent_fds[0] = parent_fds[1] = parent_fds[2] = -1;
    if (child->pidfd >= 0) close(child->pidfd);
    child->pidfd = -1;
    if (child->pty_master >= 0) close(child->pty_master);
    child->pty_master = -1;
    if (child->cgroup[0] != '\0' && rmdir(child->cgroup) != 0)
      PRINT_DEBUG("rmdir(%s) failed: %s", child->cgroup, strerror(errno));
    child->cgroup[0] = '\0';
  }
  return rc;
}

/* ---------------------------------------------------------------- group control */

/*
 * Every signal the shepherd sends goes through signal_group, signal_leader, signal_tree_once or
 * kill_tree below (and tree.h): the process group only as -pgid of the recorded, unreaped leader;
 * the leader through its pidfd; everything else through pidfds verified to name a descendant or a
 * member of the child's cgroup. No pid number comes from anywhere else, and 0 or -1 never reaches
 * kill(2).
 */

/* Signals the whole process group. Only while the leader is unreaped (alive or zombie), so the
 * pgid cannot have been recycled. ESRCH: every member is gone already. */
static void signal_group(const struct child *child, int signo) {
  if (child->reaped) return;
  if (child->pgid <= 1 || child->pgid != child->pid) {
    PRINT_FATAL("refusing to signal process group %d of child %d", (int)child->pgid, (int)child->pid);
    return;
  }
  if (kill(-child->pgid, signo) != 0 && errno != ESRCH)
    PRINT_WARN("kill(-%d, %d) failed: %s", (int)child->pgid, signo, strerror(errno));
}

static void signal_leader(const struct child *child, int signo) {
  if (child->reaped) return;
  /* Through the pidfd where we have one: it names this process, never a recycled pid. Without one
   * (no pidfd_open) the unreaped child's pid is still ours. */
  int r;
  if (child->pidfd >= 0) {
    r = (int)syscall(SYS_pidfd_send_signal, child->pidfd, signo, NULL, 0);
  } else if (child->pid > 1) {
    r = kill(child->pid, signo);
  } else {
    PRINT_FATAL("refusing to signal pid %d", (int)child->pid);
    return;
  }
  if (r != 0 && errno != ESRCH)
    PRINT_WARN("signal %d to %d failed: %s", signo, (int)child->pid, strerror(errno));
}

/* Appends the pids listed in the child's cgroup.procs to *out. 0 on success. */
static int read_cgroup_procs(const struct child *child, struct pid_list *out) {
  char path[SHEPHERD_MAX_PATH + 32];
  snprintf(path, sizeof path, "%s/cgroup.procs", child->cgroup);
  FILE *f = fopen(path, "re");
  if (f == NULL) {
    PRINT_DEBUG("fopen(%s) failed: %s", path, strerror(errno));
    return 1;
  }
  long pid;
  int rc = 0;
  while (fscanf(f, "%ld", &pid) == 1)
    if (pid > 0 && pid_list_push(out, (pid_t)pid) != 0) rc = 1;
  fclose(f);
  return rc;
}

/*
 * Adds the members of the child's cgroup that the descendant walk did not find (a process moved
 * into the leaf from elsewhere). Each is verified like a descendant: a pidfd opened first, then
 * cgroup.procs re-read to list it, then the pidfd still alive, so the listing was that process's.
 */
static void add_cgroup_members(const struct child *child, struct tree *t) {
  if (child->cgroup[0] == '\0') return;
  struct pid_list listed = {0}, again = {0};
  read_cgroup_procs(child, &listed);
  for (size_t i = 0; i < listed.n && t->n < TREE_MAX_MEMBERS; i++) {
    pid_t pid = listed.v[i];
    if (tree_has(t, pid)) continue;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) continue;
    again.n = 0;
    char state;
    pid_t ppid, pgrp;
    if (read_cgroup_procs(child, &again) != 0 || !pid_list_has(&again, pid) || tree_read_stat(pid, &state, &ppid, &pgrp) != 0 ||
        tree_pidfd_exited(fd)) {
      close(fd);
      continue;
    }
    if (t->n == t->cap) {
      size_t cap = t->cap ? t->cap * 2 : 64;
      struct tree_member *v = realloc(t->v, cap * sizeof *v);
      if (v == NULL) {
        close(fd);
        break;
      }
      t->v = v;
      t->cap = cap;
    }
    t->v[t->n++] = (struct tree_member){.pid = pid, .pgrp = pgrp, .pidfd = fd, .stoppable = 1};
  }
  pid_list_free(&listed);
  pid_list_free(&again);
}

/*
 * Sends signo exactly once to every process of the child's tree: the process group with one
 * kill(-pgid), and each process outside the group (descendants that left it with setsid, members
 * of the cgroup) through its pidfd. The set is built first and deduplicated by pid, so a process
 * that is in the group and in the cgroup, or in the group and re-parented to the shepherd, gets one
 * delivery: a second SIGTERM would run its handler twice (and interrupt its cleanup). A process
 * that joins the group while this runs is left to the group signal; one that leaves the group in
 * that moment may get none (the SIGKILL after the grace still reaches it).
 */
static void signal_tree_once(const struct child *child, int signo) {
  struct tree t = {0};
  tree_scan(&t, NULL, 0);
  add_cgroup_members(child, &t);
  int by_group = !child->reaped;
  signal_group(child, signo);
  for (size_t i = 0; i < t.n; i++) {
    if (by_group) {
      /* Read again after the group signal: a process in the group now has had its delivery. */
      char state;
      pid_t ppid, pgrp;
      if (tree_read_stat(t.v[i].pid, &state, &ppid, &pgrp) != 0) continue; /* gone */
      if (pgrp == child->pgid && !(t.v[i].pidfd >= 0 && tree_pidfd_exited(t.v[i].pidfd))) continue;
    }
    tree_signal_member(&t.v[i], signo);
  }
  tree_free(&t);
}

/* SIGKILLs the whole cgroup at once (cgroup.kill, Linux 5.14+). 0 when it was written. */
static int kill_cgroup(const struct child *child) {
  if (child->cgroup[0] == '\0') return 1;
  int err = write_file(child->cgroup, "cgroup.kill", "1");
  if (err != 0) PRINT_DEBUG("cgroup.kill in %s failed: %s", child->cgroup, strerror(err));
  return err;
}

/*
 * Kills everything of the child: the cgroup at once where there is one (nothing in it can fork
 * past cgroup.kill), then the shepherd's whole descendant tree frozen first (tree.h), which also
 * reaches what left the cgroup or lives without one, then the group. Where cgroup.kill is missing
 * (Linux < 5.14) the frozen walk over the cgroup's members stands in for it.
 */
static void kill_tree(const struct child *child) {
  int cgroup_killed = kill_cgroup(child) == 0;
  size_t killed = tree_freeze_kill_once(NULL);
  if (child->cgroup[0] != '\0' && !cgroup_killed) {
    struct tree t = {0};
    add_cgroup_members(child, &t);
    for (size_t i = 0; i < t.n; i++) tree_signal_member(&t.v[i], SIGKILL);
    tree_free(&t);
  }
  signal_group(child, SIGKILL);
  PRINT_DEBUG("killed %zu descendants", killed);
}

/* 1 while the cgroup still has members ("populated 1" in cgroup.events). */
static int cgroup_populated(const struct child *child) {
  char path[SHEPHERD_MAX_PATH + 32];
  snprintf(path, sizeof path, "%s/cgroup.events", child->cgroup);
  FILE *f = fopen(path, "re");
  if (f == NULL) return 0;
  char key[64];
  int value, populated = 0;
  while (fscanf(f, "%63s %d", key, &value) == 2)
    if (strcmp(key, "populated") == 0) populated = value;
  fclose(f);
  return populated;
}

struct exit_report {
  int code;
  int signo;
  int core;
  struct rusage ru;
};

static void drain_signalfd(int sfd) {
  struct signalfd_siginfo si;
  while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
  }
}

/* 1 while the shepherd has any child, running or zombie. */
static int has_children(void) {
  struct pid_list kids = {0};
  tree_read_children("self", &kids);
  int any = kids.n > 0;
  pid_list_free(&kids);
  return any;
}

/*
 * Reaps every waitable child without blocking; returns 1 if the main child was reaped. Each child
 * is looked at with WNOWAIT first and reaped by its own pid, so the main child's status is never
 * taken by a wait for "any child".
 */
static int reap(struct child *child, struct exit_report *report) {
  int got_main = 0;
  for (;;) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      return got_main; /* ECHILD: no children */
    }
    if (info.si_pid <= 0) return got_main; /* none has ended */
    if (!child->reaped && info.si_pid == child->pid) {
      /* Group policy "kill": the rest of the group dies with the leader. Sent while the leader is
       * a zombie, so its pid (the pgid) is still reserved. */
      signal_group(child, SIGKILL);
      int status = 0;
      pid_t r;
      do {
        r = wait4(child->pid, &status, 0, &report->ru);
      } while (r < 0 && errno == EINTR);
      child->reaped = 1;
      got_main = 1;
      if (child->pidfd >= 0) close(child->pidfd);
      child->pidfd = -1;
      if (WIFEXITED(status)) {
        report->code = WEXITSTATUS(status);
        report->signo = 0;
        report->core = 0;
      } else {
        report->code = -1;
        report->signo = WTERMSIG(status);
        report->core = WCOREDUMP(status) ? 1 : 0;
      }
      continue;
    }
    /* A descendant re-parented to us (we are its subreaper). */
    pid_t r;
    do {
      r = waitpid(info.si_pid, NULL, WNOHANG);
    } while (r < 0 && errno == EINTR);
  }
}

/*
 * After the main child is reaped: freezes and kills whatever is left of its tree, reaping as it
 * goes, until the shepherd has no child left or 2 s passed (a process in uninterruptible sleep can
 * outlast SIGKILL; the launcher, a subreaper too, takes it over when the shepherd exits).
 */
static void kill_remaining(struct child *child, int sfd) {
  struct exit_report ignored;
  int64_t deadline = now_ms() + 2000;
  for (;;) {
    if (child->cgroup[0] != '\0') kill_cgroup(child);
    size_t killed = tree_freeze_kill_once(NULL);
    reap(child, &ignored);
    if (killed == 0 && !has_children()) return;
    if (now_ms() >= deadline) {
      PRINT_WARN("descendants still present after 2 s of SIGKILL; leaving");
      return;
    }
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    if (poll(&p, 1, 10) < 0 && errno != EINTR) return;
    drain_signalfd(sfd);
    reap(child, &ignored);
  }
}

/* Kills what is left in the cgroup, reaps what re-parents to us, and removes the directory. Bounded
 * to 2 s: a member stuck in uninterruptible sleep leaves the (empty-later) directory behind. */
static void remove_cgroup(struct child *child, int sfd, int also_parent) {
  if (child->cgroup[0] == '\0') return;
  struct exit_report ignored;
  int64_t deadline = now_ms() + 2000;
  kill_cgroup(child);
  while (cgroup_populated(child) && now_ms() < deadline) {
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    if (poll(&p, 1, 10) < 0 && errno != EINTR) break;
    drain_signalfd(sfd);
    reap(child, &ignored);
  }
  if (rmdir(child->cgroup) != 0) PRINT_WARN("rmdir(%s) failed: %s", child->cgroup, strerror(errno));
  /* The manager is gone and makes no more leaves: the last shepherd out removes its directory.
   * EBUSY/ENOTEMPTY means another leaf is still there, whose shepherd will try in turn. */
  char *slash = strrchr(child->cgroup, '/');
  if (also_parent && slash != NULL && slash != child->cgroup) {
    *slash = '\0';
    if (rmdir(child->cgroup) != 0) PRINT_DEBUG("rmdir(%s): %s", child->cgroup, strerror(errno));
  }
  child->cgroup[0] = '\0';
}

static int send_exited(int fd, const struct exit_report *report, int forced) {
  uint8_t p[EXITED_PAYLOAD_SIZE];
  memset(p, 0, sizeof p);
  put_u32(p, (uint32_t)report->code);
  put_u32(p + 4, (uint32_t)report->signo);
  p[8] = (uint8_t)report->core;
  p[9] = (uint8_t)forced;
  const struct rusage *ru = &report->ru;
  put_u64(p + 12, (uint64_t)ru->ru_utime.tv_sec * 1000000 + (uint64_t)ru->ru_utime.tv_usec);
  put_u64(p + 20, (uint64_t)ru->ru_stime.tv_sec * 1000000 + (uint64_t)ru->ru_stime.tv_usec);
  put_u64(p + 28, (uint64_t)ru->ru_maxrss);
  put_u64(p + 36, (uint64_t)ru->ru_minflt);
  put_u64(p + 44, (uint64_t)ru->ru_majflt);
  put_u64(p + 52, (uint64_t)ru->ru_nvcsw);
  put_u64(p + 60, (uint64_t)ru->ru_nivcsw);
  return send_message(fd, MSG_EXITED, p, sizeof p, NULL, 0);
}

/* ---------------------------------------------------------------- set-up */

static int configure_signals(sigset_t *chld_set, int *sfd_ptr) {
  /* A write to a closed pipe must be an error, not death; the child gets SIG_DFL back. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    PRINT_FATAL("signal(SIGPIPE) failed: %s", strerror(errno));
    return 1;
  }
  sigemptyset(chld_set);
  sigaddset(chld_set, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, chld_set, NULL) != 0) {
    PRINT_FATAL("sigprocmask failed: %s", strerror(errno));
    return 1;
  }
  int sfd = signalfd(-1, chld_set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    PRINT_FATAL("signalfd failed: %s", strerror(errno));
    return 1;
  }
  *sfd_ptr = sfd;
  return 0;
}

/*
 * Receives the SPAWN message, one record at a time into `buf` (PROTOCOL_MAX_MESSAGE bytes), until
 * spawn_assembly_add has the whole payload. On success *a holds it (the caller frees a->payload);
 * on failure the manager got an ERROR (unless it hung up) and nothing stays allocated.
 */
static int receive_spawn(int ctrl, uint8_t *buf, size_t cap, struct spawn_assembly *a) {
  memset(a, 0, sizeof *a);
  for (int first = 1;; first = 0) {
    ssize_t n;
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    do {
      n = recvmsg(ctrl, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || n < 0) {
      if (n == 0) PRINT_INFO("manager hung up %s SPAWN", first ? "before" : "in the middle of");
      else PRINT_FATAL("recvmsg(SPAWN) failed: %s", strerror(errno));
      free(a->payload);
      memset(a, 0, sizeof *a);
      return 1;
    }
    /* The first record of a shepherd that was waiting idle: its name changes once SPAWN begins. */
    if (first && prctl(PR_SET_NAME, SHEPHERD_NAME, 0, 0, 0) != 0)
      PRINT_DEBUG("prctl(PR_SET_NAME) failed: %s", strerror(errno));
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
      free(a->payload);
      memset(a, 0, sizeof *a);
      send_error(ctrl, EMSGSIZE, "SPAWN record larger than PROTOCOL_MAX_MESSAGE");
      return 1;
    }
    const char *why = NULL;
    int r = spawn_assembly_add(a, buf, (size_t)n, &why);
    if (r < 0) {
      send_error(ctrl, EPROTO, why);
      return 1;
    }
    if (r == 1) return 0;
  }
}

static int check_header(const uint8_t *buf, size_t n, uint16_t *type_ptr) {
  if (n < PROTOCOL_HEADER_SIZE) return 1;
  if (get_u16(buf) != PROTOCOL_VERSION) return 1;
  if (get_u32(buf + 4) != n - PROTOCOL_HEADER_SIZE) return 1;
  *type_ptr = get_u16(buf + 2);
  return 0;
}

static void print_usage(const char *name) {
  fprintf(stderr,
          "Usage: %s [-v]...\n"
          "drover's per-child watchdog. Not run by hand: the drover manager starts it with a\n"
          "SOCK_SEQPACKET control socket as fd %d and sends a SPAWN message (shepherd/protocol.h,\n"
          "protocol version %d).\n\n"
          "  -v                  more diagnostics on stderr (repeat for debug)\n"
          "  -h                  this help\n\n"
          "Environment:\n"
          "  SHEPHERD_VERBOSITY  0 fatal, 1 warnings (default), 2 info, 3 debug\n",
          name, SHEPHERD_CONTROL_FD, PROTOCOL_VERSION);
}

static int parse_args(int argc, char **argv) {
  const char *env = getenv("SHEPHERD_VERBOSITY");
  if (env != NULL) verbosity = atoi(env);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) verbosity++;
    else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      print_usage(argv[0]);
      exit(0);
    } else {
      print_usage(argv[0]);
      return 1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- main loop */

/* Manager gone: SIGTERM the tree (once per process), wait the grace on SIGCHLD, kill the tree
 * frozen first, reap, exit. */
static void handle_hangup(struct child *child, int sfd, uint32_t grace_ms) {
  struct exit_report report;
  memset(&report, 0, sizeof report);
  PRINT_INFO("manager hung up; stopping group %d", (int)child->pgid);
  signal_tree_once(child, SIGTERM);
  signal_tree_once(child, SIGCONT); /* a stopped process would never see the SIGTERM */
  int64_t deadline = now_ms() + grace_ms;
  int killed = 0;
  while (!child->reaped) {
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      if (killed) {
        /* SIGKILL cannot be caught; a child still here is in uninterruptible sleep. Leave rather
         * than wait without a deadline (the launcher, a subreaper, takes over what is left). */
        PRINT_WARN("child %d survived SIGKILL for 5 s; leaving", (int)child->pid);
        return;
      }
      kill_tree(child);
      killed = 1;
      deadline = now_ms() + 5000;
      continue;
    }
    struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = child->pidfd, .events = POLLIN}};
    if (poll(p, child->pidfd >= 0 ? 2 : 1, (int)left) < 0 && errno != EINTR) {
      PRINT_WARN("poll(signalfd) failed: %s", strerror(errno));
    }
    drain_signalfd(sfd);
    reap(child, &report);
  }
  kill_remaining(child, sfd);
  remove_cgroup(child, sfd, 1);
}

int main(int argc, char **argv) {
  static uint8_t buf[PROTOCOL_MAX_MESSAGE];
  sigset_t chld_set;
  int sfd;
  int ctrl = SHEPHERD_CONTROL_FD;
  uint16_t type;
  struct spawn_request req;
  struct spawn_assembly spawn;
  const char *why;
  struct child child;
  memset(&child, 0, sizeof child);
  child.reaped = 1;
  child.pidfd = -1;
  child.pty_master = -1;

  if (parse_args(argc, argv)) return SHEPHERD_EXIT_INTERNAL;
  if (fcntl(ctrl, F_GETFD) < 0) {
    PRINT_FATAL("fd %d is not open: run by the drover manager only (-h for help)", ctrl);
    return SHEPHERD_EXIT_INTERNAL;
  }
  /* Nothing the manager leaked to us (other nodes' pipes, sockets) may reach the child; fd 3, the
   * control socket, is close-on-exec too: the child must never hold it. */
  mark_inherited_fds_cloexec();
  if (configure_signals(&chld_set, &sfd)) return SHEPHERD_EXIT_INTERNAL;
  /* Double-forked descendants re-parent to us instead of init, so we can reap them. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    PRINT_WARN("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", strerror(errno));
  struct timeval send_timeout = {.tv_sec = 5, .tv_usec = 0};
  if (setsockopt(ctrl, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) != 0)
    PRINT_WARN("setsockopt(SO_SNDTIMEO) failed: %s", strerror(errno));

  /* Until SPAWN arrives this shepherd is idle (a launcher's spare, or one just started): its
   * name says so in ps and /proc/<pid>/comm, which is how tests tell a spare from a leak. */
  if (prctl(PR_SET_NAME, SHEPHERD_IDLE_NAME, 0, 0, 0) != 0)
    PRINT_DEBUG("prctl(PR_SET_NAME) failed: %s", strerror(errno));
  if (receive_spawn(ctrl, buf, sizeof buf, &spawn)) return SHEPHERD_EXIT_INTERNAL;
  int refused = parse_spawn(spawn.payload, spawn.total, &req, &why);
  free(spawn.payload); /* parse_spawn copied every string into the request's arena */
  if (refused) {
    send_error(ctrl, EPROTO, why);
    return SHEPHERD_EXIT_INTERNAL;
  }

  int parent_fds[3];
  int exec_errno = 0, exec_stage = STAGE_SETUP;
  if (start_child(&req, &child, parent_fds, &exec_errno, &exec_stage)) {
    send_error(ctrl, errno, "could not create pipes");
    return SHEPHERD_EXIT_INTERNAL;
  }
  if (exec_errno != 0) {
    uint8_t p[EXEC_FAILED_PAYLOAD_SIZE] = {0};
    put_u32(p, (uint32_t)exec_errno);
    p[4] = (uint8_t)exec_stage;
    send_message(ctrl, MSG_EXEC_FAILED, p, sizeof p, NULL, 0);
    return 0;
  }
  uint32_t grace_ms = req.kill_grace_ms;
  free(req.arena);

  {
    uint8_t p[STARTED_PAYLOAD_SIZE] = {0};
    int fds[3];
    int nfds = 0;
    uint8_t mask = 0;
    put_u32(p, (uint32_t)child.pid);
    put_u32(p + 4, (uint32_t)child.pgid);
    for (int i = 0; i < 3; i++) {
      if (parent_fds[i] >= 0) {
        mask |= (uint8_t)(1 << i);
        fds[nfds++] = parent_fds[i];
      }
      put_u32(p + 12 + 4 * i, child.pipe_sizes[i]);
    }
    p[8] = mask;
    p[9] = (uint8_t)((child.pty_master >= 0 ? STARTED_FLAG_PTY : 0) |
                     (child.cgroup[0] != '\0' ? STARTED_FLAG_CGROUP : 0));
    int sent = send_message(ctrl, MSG_STARTED, p, sizeof p, fds, nfds);
    /* Out of the data path: the manager owns the parent ends now. */
    for (int i = 0; i < nfds; i++) close(fds[i]);
    if (sent != 0) {
      handle_hangup(&child, sfd, grace_ms);
      return SHEPHERD_EXIT_INTERNAL;
    }
  }

  int forced = 0;
  int64_t stop_deadline = -1;
  struct exit_report report;
  memset(&report, 0, sizeof report);
  for (;;) {
    /* The pidfd wakes us for the main child's exit; SIGCHLD (signalfd) for re-parented orphans.
     * poll ignores a negative fd. */
    struct pollfd pfds[3] = {{.fd = ctrl, .events = POLLIN},
                             {.fd = sfd, .events = POLLIN},
                             {.fd = child.pidfd, .events = POLLIN}};
    int timeout = -1;
    if (stop_deadline >= 0) {
      int64_t left = stop_deadline - now_ms();
      timeout = left > 0 ? (int)left : 0;
    }
    int r = poll(pfds, 3, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      PRINT_FATAL("poll failed: %s", strerror(errno));
      handle_hangup(&child, sfd, grace_ms);
      return SHEPHERD_EXIT_INTERNAL;
    }
    if (stop_deadline >= 0 && now_ms() >= stop_deadline && !child.reaped) {
      PRINT_INFO("stop grace expired; killing the tree of %d", (int)child.pid);
      kill_tree(&child);
      forced = 1;
      stop_deadline = -1;
    }
    if ((pfds[1].revents & POLLIN) || (pfds[2].revents & POLLIN)) {
      drain_signalfd(sfd);
      if (reap(&child, &report)) {
        send_exited(ctrl, &report, forced);
        /* Group policy "kill" reaches beyond the group: descendants that escaped it with setsid
         * are ours as subreaper, and die with the leader too, as does all of its cgroup. */
        kill_remaining(&child, sfd);
        remove_cgroup(&child, sfd, 0);
        return 0;
      }
    }
    if (pfds[0].revents & POLLIN) {
      ssize_t n;
      do {
        n = recv(ctrl, buf, sizeof buf, MSG_TRUNC);
      } while (n < 0 && errno == EINTR);
      if (n == 0 || (n < 0 && errno != EAGAIN)) {
        handle_hangup(&child, sfd, grace_ms);
        return 0;
      }
      if (n < 0) continue;
      if ((size_t)n > sizeof buf || check_header(buf, (size_t)n, &type)) {
        send_error(ctrl, EPROTO, "bad header");
        continue;
      }
      const uint8_t *p = buf + PROTOCOL_HEADER_SIZE;
      size_t plen = (size_t)n - PROTOCOL_HEADER_SIZE;
      int32_t signo = plen >= 4 ? (int32_t)get_u32(p) : 0;
      if (type == MSG_SIGNAL && plen == SIGNAL_PAYLOAD_SIZE && signo >= 1 &&
          signo <= SHEPHERD_MAX_SIGNAL && p[4] <= SCOPE_GROUP) {
        if (p[4] == SCOPE_GROUP) signal_group(&child, signo);
        else signal_leader(&child, signo);
      } else if (type == MSG_STOP && plen == STOP_PAYLOAD_SIZE && signo >= 1 &&
                 signo <= SHEPHERD_MAX_SIGNAL) {
        uint32_t stop_grace = get_u32(p + 4);
        if (signo == SIGKILL) {
          kill_tree(&child);
        } else {
          signal_tree_once(&child, signo);
          if (signo != SIGCONT) signal_tree_once(&child, SIGCONT); /* a stopped process would never see it */
          int64_t deadline = now_ms() + stop_grace;
          if (stop_deadline < 0 || deadline < stop_deadline) stop_deadline = deadline;
        }
      } else if (type == MSG_WINSIZE && plen == WINSIZE_PAYLOAD_SIZE && get_u16(p) >= 1 &&
                 get_u16(p + 2) >= 1) {
        struct winsize ws = {.ws_col = get_u16(p), .ws_row = get_u16(p + 2)};
        if (child.pty_master >= 0 && ioctl(child.pty_master, TIOCSWINSZ, &ws) != 0)
          PRINT_WARN("ioctl(TIOCSWINSZ) failed: %s", strerror(errno));
      } else {
        send_error(ctrl, EPROTO, "unknown message or field out of range");
      }
    } else if (pfds[0].revents & (POLLHUP | POLLERR)) {
      handle_hangup(&child, sfd, grace_ms);
      return 0;
    }
  }
}
