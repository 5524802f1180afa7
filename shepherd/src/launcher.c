/*
 * launcher — starts drover shepherds with posix_spawn on the manager's request and hands their
 * control sockets back over SCM_RIGHTS. See ../launcher-protocol.h.
 *
 * It is also the subreaper above the shepherds: a process re-parented to it that is not a
 * shepherd it started is what is left of a shepherd that died (SIGKILLed by its own child, say),
 * and its whole tree is frozen and killed (tree.h).
 *
 * main() reads as the algorithm (tini habit): check fd 3, mark inherited fds close-on-exec, become
 * child subreaper, block SIGCHLD into a signalfd, then loop { poll; on SIGCHLD or once a second:
 * reap, kill orphans; answer LAUNCH } until the manager hangs up, then { reap; kill orphans }
 * until no shepherd is left.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher-protocol.h"
#include "protocol.h"
#define LOG_PROGRAM "launcher"
#include "common.h"
#include "tree.h"

extern char **environ;

/* One record: header + 8-byte payload, with up to two fds. Returns 0 on success, 1 on failure. */
static int send_reply(int ctrl, uint16_t type, uint32_t id, int32_t value, const int *fds, int nfds) {
  uint8_t buf[LAUNCHER_HEADER_SIZE + 8];
  put_u16(buf, LAUNCHER_PROTOCOL_VERSION);
  put_u16(buf + 2, type);
  put_u32(buf + 4, 8);
  put_u32(buf + 8, id);
  put_u32(buf + 12, (uint32_t)value);
  /* Blocking: a busy manager makes us wait; a dead one makes this fail with EPIPE. */
  int err = send_with_fds(ctrl, buf, sizeof buf, fds, nfds);
  if (err == 0) return 0;
  PRINT_WARN("sendmsg(type %u) failed: %s", (unsigned)type, strerror(err));
  return 1;
}

/* Starts one shepherd. On success *pid_ptr, *ctrl_ptr (manager end) and *err_ptr (stderr read
 * end) are set and the launcher holds no other fd of that shepherd; on failure returns an errno. */
static int spawn_shepherd(const char *path, pid_t *pid_ptr, int *ctrl_ptr, int *err_ptr) {
  int sv[2] = {-1, -1}, errpipe[2] = {-1, -1};
  int rc = 0;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int have_actions = 0, have_attr = 0;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    rc = errno;
    PRINT_WARN("socketpair failed: %s", strerror(rc));
    goto out;
  }
  /* A SEQPACKET record must fit the socket buffers whole (as the addon's socketpair() does). */
  int size = PROTOCOL_MAX_MESSAGE + 4096;
  for (int i = 0; i < 2; i++) {
    if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0 ||
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0)
      PRINT_WARN("setsockopt(SO_SNDBUF/SO_RCVBUF) failed: %s", strerror(errno));
  }
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    rc = errno;
    PRINT_WARN("pipe2 failed: %s", strerror(rc));
    goto out;
  }
  if ((rc = posix_spawn_file_actions_init(&actions)) != 0) goto out;
  have_actions = 1;
  /* sv[1] and errpipe[1] are >= 4 (0..3 are open), so no dup2 clobbers a later source. dup2
   * clears close-on-exec on the target; every other fd of ours is close-on-exec. */
  if ((rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
      (rc = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)) != 0 ||
      (rc = posix_spawn_file_actions_adddup2(&actions, errpipe[1], 2)) != 0 ||
      (rc = posix_spawn_file_actions_adddup2(&actions, sv[1], SHEPHERD_CONTROL_FD)) != 0)
    goto out;
  if ((rc = posix_spawnattr_init(&attr)) != 0) goto out;
  have_attr = 1;
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig = 1; sig < 32; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaddset(&defaults, sig);
  /* Own session (the manager's terminal Ctrl-C reaches the manager only, as with detached: true),
   * no blocked signals (SIGCHLD is blocked here for the signalfd), default dispositions. */
  if ((rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
      (rc = posix_spawnattr_setsigmask(&attr, &empty)) != 0 ||
      (rc = posix_spawnattr_setsigdefault(&attr, &defaults)) != 0)
    goto out;
  char *argv[] = {(char *)path, NULL};
  rc = posix_spawn(pid_ptr, path, &actions, &attr, argv, environ);
  if (rc != 0) PRINT_WARN("posix_spawn(%s) failed: %s", path, strerror(rc));
out:
  if (have_actions) posix_spawn_file_actions_destroy(&actions);
  if (have_attr) posix_spawnattr_destroy(&attr);
  /* The shepherd's ends live in the shepherd only. */
  if (sv[1] >= 0) close(sv[1]);
  if (errpipe[1] >= 0) close(errpipe[1]);
  if (rc != 0) {
    if (sv[0] >= 0) close(sv[0]);
    if (errpipe[0] >= 0) close(errpipe[0]);
    return rc;
  }
  *ctrl_ptr = sv[0];
  *err_ptr = errpipe[0];
  return 0;
}

/* Pids of the shepherds this launcher started and has not reaped: its only legitimate children. */
static struct pid_list shepherds;

static void forget_shepherd(pid_t pid) {
  for (size_t i = 0; i < shepherds.n; i++) {
    if (shepherds.v[i] == pid) {
      shepherds.v[i] = shepherds.v[--shepherds.n];
      return;
    }
  }
}

/* Reaps every ended child (shepherds and killed orphans); a reaped shepherd is forgotten. */
static void reap_children(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      forget_shepherd(pid);
      continue;
    }
    if (pid < 0 && errno == EINTR) continue;
    return; /* 0: none exited; ECHILD: no children */
  }
}

/* 1 when a child of this launcher is not a shepherd it started: an orphan re-parented to it. */
static int has_orphans(void) {
  struct pid_list kids = {0};
  tree_read_children("self", &kids);
  int found = 0;
  for (size_t i = 0; i < kids.n && !found; i++) found = !pid_list_has(&shepherds, kids.v[i]);
  pid_list_free(&kids);
  return found;
}

/*
 * Freezes and kills the trees of every orphan (child that is not a shepherd), reaping as it goes,
 * until none is left or 2 s passed. The shepherds' own trees are never touched: they are excluded
 * at the top, and below a live shepherd nothing is re-parented to us.
 */
static void kill_orphans(int sfd) {
  int64_t deadline = now_ms() + 2000;
  for (;;) {
    size_t killed = tree_freeze_kill_once(&shepherds);
    reap_children();
    if (killed == 0 && !has_orphans()) return;
    if (killed > 0) PRINT_INFO("killed %zu processes left behind by a shepherd that died", killed);
    if (now_ms() >= deadline) {
      PRINT_WARN("orphans still present after 2 s of SIGKILL");
      return;
    }
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    if (poll(&p, 1, 10) < 0 && errno != EINTR) return;
    drain_signalfd(sfd);
    reap_children();
  }
}

static void handle_launch(int ctrl, const char *path, uint32_t id) {
  pid_t pid = 0;
  int fds[2];
  int rc = spawn_shepherd(path, &pid, &fds[0], &fds[1]);
  if (rc != 0) {
    send_reply(ctrl, LMSG_LAUNCH_FAILED, id, rc, NULL, 0);
    return;
  }
  /* Recorded before anything else runs: a child whose pid is not in this list is an orphan. */
  if (pid <= 0 || pid_list_push(&shepherds, pid) != 0) {
    PRINT_FATAL("cannot record shepherd %d; ending it", (int)pid);
    close(fds[0]);
    close(fds[1]);
    send_reply(ctrl, LMSG_LAUNCH_FAILED, id, ENOMEM, NULL, 0);
    return;
  }
  /* If this fails the manager is gone: closing our copies below leaves the shepherd's control
   * socket without a peer, so it sees a hangup and exits before any SPAWN. */
  send_reply(ctrl, LMSG_LAUNCHED, id, (int32_t)pid, fds, 2);
  close(fds[0]);
  close(fds[1]);
}

int main(int argc, char **argv) {
  const char *env = getenv("SHEPHERD_VERBOSITY");
  if (env != NULL) verbosity = atoi(env);
  if (argc != 2 || argv[1][0] != '/') {
    fprintf(stderr,
            "Usage: %s /absolute/path/to/shepherd\n"
            "Started by the drover manager with a SOCK_SEQPACKET control socket as fd %d\n"
            "(launcher protocol version %d, see launcher-protocol.h).\n"
            "Environment:\n"
            "  SHEPHERD_VERBOSITY  0 fatal, 1 warnings (default), 2 info; passed on to shepherds\n",
            argv[0], LAUNCHER_CONTROL_FD, LAUNCHER_PROTOCOL_VERSION);
    return LAUNCHER_EXIT_INTERNAL;
  }
  const char *path = argv[1];
  int ctrl = LAUNCHER_CONTROL_FD;
  if (fcntl(ctrl, F_GETFD) < 0) {
    PRINT_FATAL("fd %d is not open: run by the drover manager only", ctrl);
    return LAUNCHER_EXIT_INTERNAL;
  }
  /* Nothing the manager leaked to us may reach a shepherd; fd 3 (our control socket) included:
   * posix_spawn replaces fd 3 with the shepherd's own socket anyway. */
  mark_inherited_fds_cloexec();
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) {
    PRINT_FATAL("sigprocmask failed: %s", strerror(errno));
    return LAUNCHER_EXIT_INTERNAL;
  }
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    PRINT_FATAL("signalfd failed: %s", strerror(errno));
    return LAUNCHER_EXIT_INTERNAL;
  }
  /* Whatever a dying shepherd leaves behind is re-parented here instead of to init. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    PRINT_WARN("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", strerror(errno));
  int hung_up = 0;
  int64_t last_check = 0;
  for (;;) {
    struct pollfd pfds[2] = {{.fd = hung_up ? -1 : ctrl, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    /* A re-parented orphan sends no SIGCHLD: children are also checked once a second. */
    int ready = poll(pfds, 2, 1000);
    if (ready < 0) {
      if (errno == EINTR) continue;
      PRINT_FATAL("poll failed: %s", strerror(errno));
      return LAUNCHER_EXIT_INTERNAL;
    }
    int chld = (pfds[1].revents & POLLIN) != 0;
    if (chld) drain_signalfd(sfd);
    /* Our children change only when a shepherd exits: its SIGCHLD comes after the kernel has
     * re-parented its orphans to us. So reap and look for orphans on SIGCHLD, after the manager
     * hung up, and at least once a second (the backstop); not for every LAUNCH of a burst: each
     * look reads /proc/self/task/<tid>/children and each wait4 scans every child, which made a
     * burst of n LAUNCHes cost O(n^2) in the kernel. */
    int64_t now = now_ms();
    if (chld || ready == 0 || hung_up || now - last_check >= 1000) {
      last_check = now;
      reap_children();
      if (has_orphans()) kill_orphans(sfd);
    }
    if (hung_up) {
      /* The manager is gone; its shepherds are stopping their trees. Stay their subreaper until
       * the last one exits, then leave. */
      if (shepherds.n == 0) {
        kill_orphans(sfd);
        PRINT_INFO("manager gone and no shepherd left; exiting");
        return 0;
      }
      continue;
    }
    if (pfds[0].revents & POLLIN) {
      uint8_t buf[64];
      ssize_t n;
      do {
        n = recv(ctrl, buf, sizeof buf, MSG_TRUNC);
      } while (n < 0 && errno == EINTR);
      if (n == 0 || (n < 0 && errno != EAGAIN)) {
        PRINT_INFO("manager hung up; waiting for %zu shepherds", shepherds.n);
        close(ctrl);
        hung_up = 1;
        continue;
      }
      if (n < 0) continue;
      if ((size_t)n != LAUNCHER_HEADER_SIZE + LAUNCH_PAYLOAD_SIZE || get_u16(buf) != LAUNCHER_PROTOCOL_VERSION ||
          get_u16(buf + 2) != LMSG_LAUNCH || get_u32(buf + 4) != LAUNCH_PAYLOAD_SIZE) {
        /* No request id to answer to: a peer that speaks another protocol is not ours. */
        PRINT_FATAL("bad record of %zd bytes on fd %d; exiting", n, ctrl);
        return LAUNCHER_EXIT_INTERNAL;
      }
      handle_launch(ctrl, path, get_u32(buf + LAUNCHER_HEADER_SIZE));
    } else if (pfds[0].revents & (POLLHUP | POLLERR)) {
      PRINT_INFO("manager hung up; waiting for %zu shepherds", shepherds.n);
      close(ctrl);
      hung_up = 1;
    }
  }
}
