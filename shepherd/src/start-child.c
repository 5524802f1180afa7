/*
 * Starting the child (start-child.h). The shepherd creates the pipes or pty and the cgroup, then
 * starts the child in the cgroup with clone3 (else vforks, and the child joins the cgroup), and
 * the child takes a clean signal state, its own process group (or a
 * session with the pty as controlling terminal), its stdio, rlimits and cwd, and execs. A step that
 * fails is reported to the shepherd over a close-on-exec status pipe, whose EOF means exec worked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/sched.h>
#include <termios.h>
#include <unistd.h>

#include "start-child.h"
#define LOG_PROGRAM "shepherd"
#include "common.h"

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif

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

/* Writes a short string to a file (start-child.h). */
int write_file(const char *dir, const char *name, const char *text) {
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
                                                int pty_slave, int status_fd, int in_cgroup) {
  /* Join the cgroup first (unless the child was started in it): nothing of the command may run
   * outside it (exec is gated on it). */
  if (req->cgroup[0] != '\0' && !in_cgroup) {
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
    run_child(req, stdio_fds, pty_slave, status_pipe[1], 0);
  }
  return pid;
}

/*
 * Starts the child inside its cgroup with clone3(CLONE_INTO_CGROUP) (Linux 5.7+), or returns -1
 * for vfork_child to start it the other way. Moving a process into a cgroup (writing cgroup.procs)
 * takes the cgroup core's threadgroup lock for writing, which waits for an RCU grace period when
 * no migration happened lately: 9 ms for the first move after a quiet spell here, and 15 ms between
 * that write and the exec of a `drover up`'s first node. A child created in its cgroup takes that
 * lock for reading only, as every fork does (0.1 ms). No CLONE_VM: the child is a fork of this
 * small static process, with its own copy of memory, so returning from syscall() is safe; with
 * CLONE_VFORK the shepherd stays suspended until the child execs or exits, as with vfork. Any
 * failure (ENOSYS before 5.3 or under a seccomp filter, EINVAL before 5.7, a cgroup it may not
 * enter) leaves it to vfork_child, where the write reports the error as before. So does
 * SHEPHERD_CLONE_INTO_CGROUP=0 in the environment (the manager's DROVER_CLONE_INTO_CGROUP=0).
 */
static __attribute__((noinline)) pid_t clone_into_cgroup(const struct spawn_request *req, int stdio_fds[3],
                                                         int pty_slave, const int status_pipe[2]) {
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
  const char *setting = getenv("SHEPHERD_CLONE_INTO_CGROUP");
  if (setting != NULL && strcmp(setting, "0") == 0) return -1;
  int cgroup_fd = open(req->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup_fd < 0) return -1;
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_INTO_CGROUP | CLONE_VFORK;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)cgroup_fd;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    close(status_pipe[0]);
    run_child(req, stdio_fds, pty_slave, status_pipe[1], 1);
  }
  int err = errno;
  close(cgroup_fd);
  if (pid < 0) PRINT_DEBUG("clone3(CLONE_INTO_CGROUP) failed: %s; joining the cgroup after vfork", strerror(err));
  return pid < 0 ? -1 : (pid_t)pid;
#else
  (void)req;
  (void)stdio_fds;
  (void)pty_slave;
  (void)status_pipe;
  return -1;
#endif
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

/* Starts the child (start-child.h). */
int start_child(const struct spawn_request *req, struct child *child, int parent_fds[3], int *exec_errno,
                int *exec_stage) {
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
  pid_t pid = req->cgroup[0] != '\0' ? clone_into_cgroup(req, child_fds, pty_slave, status_pipe) : -1;
  if (pid < 0) pid = vfork_child(req, child_fds, pty_slave, status_pipe);
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
