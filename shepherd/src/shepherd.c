/*
 * shepherd: drover's per-child watchdog. The manager (or its launcher) starts one per child, with
 * one end of a SOCK_SEQPACKET socketpair as fd 3, the control socket (../protocol.h). main() runs:
 *   1. prepare: fd 3 checked, inherited fds close-on-exec, SIGCHLD into a signalfd, subreaper;
 *   2. receive the SPAWN request, reassembled from its records (spawn-request.c);
 *   3. start the child in its own process group (or pty session), in its cgroup, with real pipes;
 *   4. hand the parent ends of the pipes back over SCM_RIGHTS: the shepherd leaves the data path;
 *   5. supervise: relay SIGNAL and WINSIZE, freeze/thaw the tree (FREEZE), run a STOP's escalation,
 *      reap re-parented orphans;
 *   6. when the child exits: report EXITED with its rusage, kill and reap what is left of its tree,
 *      remove its cgroup.
 * Safety guarantee: when the control socket hangs up (the manager died), the child's whole tree is
 * stopped: SIGTERM once to every process, the SPAWN's grace, then SIGKILL, frozen first (tree.h).
 * As subreaper the shepherd reaps every descendant, so none outlives it. As tini does: every helper
 * returns 0 on success, every syscall is checked and logged with its name and strerror(errno).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "spawn-request.h"
#include "start-child.h"
#define LOG_PROGRAM "shepherd"
#include "common.h"
#include "tree.h"

/* ---------------------------------------------------------------- state */

/* How the main child ended, with its rusage: what EXITED carries. */
struct exit_report {
  int code;
  int signo;
  int core;
  struct rusage ru;
};

/* What the steps of main() share. */
struct shepherd {
  int ctrl;                /* the control socket (SHEPHERD_CONTROL_FD) */
  int sfd;                 /* signalfd of SIGCHLD */
  uint32_t grace_ms;       /* the SPAWN's kill grace: SIGTERM, this long, SIGKILL after a hangup */
  struct child child;
  int64_t stop_deadline;   /* when the grace of a STOP runs out, or -1 */
  int forced;              /* a STOP's grace ran out and the tree was killed (EXITED says so) */
  struct exit_report report;
  uint8_t buf[PROTOCOL_MAX_MESSAGE]; /* one record from the manager */
};

/* ---------------------------------------------------------------- messages to the manager */

/* Sends one message (payload at most 512 bytes) with up to 3 fds. 0 on success, 1 logged failure. */
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
  /* EPIPE/ECONNRESET: the manager is gone; the event loop sees the hangup and stops the tree.
   * EAGAIN: the SO_SNDTIMEO deadline passed with a full socket buffer. */
  PRINT_WARN("sendmsg(type %u) failed: %s", (unsigned)type, strerror(err));
  return 1;
}

/* ERROR: an errno and a message (cut at 256 bytes) saying what the shepherd refused or failed. */
static void send_error(int fd, int err, const char *message) {
  uint8_t payload[8 + 256];
  size_t len = strlen(message);
  if (len > 256) len = 256;
  put_u32(payload, (uint32_t)err);
  put_u32(payload + 4, (uint32_t)len);
  memcpy(payload + 8, message, len);
  send_message(fd, MSG_ERROR, payload, (uint32_t)(8 + len), NULL, 0);
}

/* EXITED: how the child ended, whether a STOP's grace ran out (forced), and its rusage. */
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

/* ---------------------------------------------------------------- signals */

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
    if (tree_push(t, (struct tree_member){.pid = pid, .pgrp = pgrp, .pidfd = fd, .stoppable = 1})) {
      close(fd);
      break;
    }
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
 * SIGKILLs everything of the child: the cgroup at once where there is one (nothing in it can fork
 * past cgroup.kill), then the shepherd's whole descendant tree frozen first (tree.h), which also
 * reaches what left the cgroup or lives without one, then the group while the leader is unreaped.
 * Where cgroup.kill is missing (Linux < 5.14) the frozen walk over the cgroup's members stands in
 * for it. Returns how many descendants the frozen walk killed.
 */
static size_t kill_tree(const struct child *child) {
  int cgroup_killed = kill_cgroup(child) == 0;
  size_t killed = tree_freeze_kill_once(NULL);
  if (child->cgroup[0] != '\0' && !cgroup_killed) {
    struct tree t = {0};
    add_cgroup_members(child, &t);
    for (size_t i = 0; i < t.n; i++) tree_signal_member(&t.v[i], SIGKILL);
    tree_free(&t);
  }
  signal_group(child, SIGKILL);
  return killed;
}

/*
 * FREEZE: stops (or continues) every process of the child's tree, as signal_tree_once reaches it,
 * without killing anything. Freezing sends SIGSTOP to the group, then walks the descendants and
 * the cgroup's members, stopping each as it is found, and re-scans until a scan finds no new
 * member and all show stopped (a stopped process cannot fork, so the set converges), for at most
 * FREEZE_WAIT_MS. Thawing sends SIGCONT once to every process of the tree. *signalled gets the
 * size of the set, *running how many still did not show stopped (0 after a thaw).
 */
static void freeze_tree(const struct child *child, int freeze, uint32_t *signalled, uint32_t *running) {
  *signalled = 0;
  *running = 0;
  if (!freeze) {
    struct tree t = {0};
    tree_scan(&t, NULL, 0);
    add_cgroup_members(child, &t);
    *signalled = (uint32_t)t.n;
    tree_free(&t);
    signal_tree_once(child, SIGCONT);
    return;
  }
  struct tree t = {0};
  struct rlimit saved;
  int raised = tree_raise_fd_limit(&saved) == 0;
  int64_t deadline = now_ms() + FREEZE_WAIT_MS;
  signal_group(child, SIGSTOP);
  for (;;) {
    int stopped = tree_all_stopped(&t);
    size_t added = tree_scan(&t, NULL, SIGSTOP);
    size_t before = t.n;
    add_cgroup_members(child, &t);
    for (size_t i = before; i < t.n; i++) tree_signal_member(&t.v[i], SIGSTOP);
    added += t.n - before;
    if (t.out_of_fds || t.n >= TREE_MAX_MEMBERS) break;
    if (stopped && added == 0) break;
    if (now_ms() >= deadline) break;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};
    nanosleep(&pause, NULL); /* let the SIGSTOPs land */
  }
  for (size_t i = 0; i < t.n; i++) {
    const struct tree_member *m = &t.v[i];
    char state;
    pid_t ppid, pgrp;
    if (tree_read_stat(m->pid, &state, &ppid, &pgrp) != 0) continue;
    if (m->pidfd >= 0 && tree_pidfd_exited(m->pidfd)) continue;
    if (state != 'T' && state != 't' && state != 'Z' && state != 'X') (*running)++;
  }
  *signalled = (uint32_t)t.n;
  tree_free(&t);
  if (raised) setrlimit(RLIMIT_NOFILE, &saved);
}

/* ---------------------------------------------------------------- reaping */

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
 * Sleeps until SIGCHLD, the leader's exit (its pidfd) or timeout_ms, then reaps whatever ended.
 * Returns 0, or poll's errno when it failed (the reap is done all the same).
 */
static int reap_after_wait(struct child *child, int sfd, int timeout_ms) {
  struct exit_report ignored;
  struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = child->pidfd, .events = POLLIN}};
  int err = poll(p, child->pidfd >= 0 ? 2 : 1, timeout_ms) < 0 && errno != EINTR ? errno : 0;
  drain_signalfd(sfd);
  reap(child, &ignored);
  return err;
}

/* ---------------------------------------------------------------- stopping the tree */

/* Waits up to timeout_ms for the leader to be reaped. 1 when it was, 0 when the time ran out. */
static int wait_for_leader(struct child *child, int sfd, int64_t timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  while (!child->reaped) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return 0;
    int err = reap_after_wait(child, sfd, (int)left);
    if (err != 0) PRINT_WARN("poll(signalfd) failed: %s", strerror(err));
  }
  return 1;
}

/*
 * After the main child is reaped: kills whatever is left of its tree, reaping as it goes, until
 * the shepherd has no child left or 2 s passed (a process in uninterruptible sleep can outlast
 * SIGKILL; the launcher, a subreaper too, takes it over when the shepherd exits).
 */
static void kill_remaining(struct child *child, int sfd) {
  struct exit_report ignored;
  int64_t deadline = now_ms() + 2000;
  for (;;) {
    size_t killed = kill_tree(child);
    reap(child, &ignored);
    if (killed == 0 && !has_children()) return;
    if (now_ms() >= deadline) {
      PRINT_WARN("descendants still present after 2 s of SIGKILL; leaving");
      return;
    }
    if (reap_after_wait(child, sfd, 10) != 0) return;
  }
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

/* Kills what is left in the cgroup, reaps what re-parents to us, and removes the directory. Bounded
 * to 2 s: a member stuck in uninterruptible sleep leaves the (empty-later) directory behind. */
static void remove_cgroup(struct child *child, int sfd, int also_parent) {
  if (child->cgroup[0] == '\0') return;
  int64_t deadline = now_ms() + 2000;
  kill_cgroup(child);
  while (cgroup_populated(child) && now_ms() < deadline)
    if (reap_after_wait(child, sfd, 10) != 0) break;
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

/* How far stop_tree goes. */
enum stop_scope {
  STOP_SIGNAL_ONLY,  /* send and return: the caller's event loop keeps the grace */
  STOP_TO_THE_END,   /* wait the tree out, reap it, remove the cgroup */
  STOP_AFTER_HANGUP, /* as STOP_TO_THE_END, and remove the manager's cgroup directory if empty */
};

/*
 * The one sequence that stops the child's whole tree (its process group, the descendants the
 * shepherd reaps as subreaper, the members of its cgroup). Every caller runs it, as far as `scope`:
 *   1. while the leader is unreaped: thaw its cgroup (cgroup.freeze 0: a paused node), signo exactly
 *      once to every process of the tree, then SIGCONT (a stopped process would never see signo);
 *      for SIGKILL, step 3 at once;
 *   2. up to grace_ms for the leader to exit;
 *   3. SIGKILL to all of it, frozen first (kill_tree); then up to 5 s for the leader to die: one
 *      still there is in uninterruptible sleep, and the shepherd leaves rather than wait without a
 *      deadline (the launcher, a subreaper too, takes over what is left);
 *   4. once the leader is reaped: kill and reap whatever is left, remove the cgroup.
 * STOP_SIGNAL_ONLY returns after step 1 (for SIGKILL, after the kill of step 3): a STOP's grace
 * runs in the event loop, which calls again with SIGKILL when it runs out.
 */
static void stop_tree(struct child *child, int sfd, int signo, uint32_t grace_ms, enum stop_scope scope) {
  if (!child->reaped && signo != SIGKILL) { /* 1, 2 */
    /* A cgroup the manager froze (a paused node) must thaw, or no member runs its handler before
     * the grace ends: SIGCONT does not reach the cgroup freezer. */
    if (child->cgroup[0] != '\0') {
      int err = write_file(child->cgroup, "cgroup.freeze", "0");
      if (err != 0) PRINT_DEBUG("cgroup.freeze=0 in %s failed: %s", child->cgroup, strerror(err));
    }
    signal_tree_once(child, signo);
    if (signo != SIGCONT) signal_tree_once(child, SIGCONT);
    if (scope == STOP_SIGNAL_ONLY) return;
    wait_for_leader(child, sfd, grace_ms);
  }
  if (!child->reaped) { /* 3 */
    size_t killed = kill_tree(child);
    PRINT_DEBUG("killed %zu descendants", killed);
    if (scope == STOP_SIGNAL_ONLY) return;
    if (!wait_for_leader(child, sfd, 5000)) {
      PRINT_WARN("child %d survived SIGKILL for 5 s; leaving", (int)child->pid);
      return;
    }
  }
  if (scope == STOP_SIGNAL_ONLY) return;
  kill_remaining(child, sfd); /* 4 */
  remove_cgroup(child, sfd, scope == STOP_AFTER_HANGUP);
}

/* ---------------------------------------------------------------- the steps of main() */

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

/* Reads -v, -h and SHEPHERD_VERBOSITY: the manager tells the shepherd everything else over fd 3. */
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

/* Step 1: readies the process to supervise: nothing inherited reaches the child, SIGCHLD is a
 * pollable fd, orphans re-parent here, and a stuck manager cannot block a send for ever. */
static int prepare(struct shepherd *sh) {
  sigset_t chld_set;
  sh->ctrl = SHEPHERD_CONTROL_FD;
  sh->child.reaped = 1;
  sh->child.pidfd = -1;
  sh->child.pty_master = -1;
  sh->stop_deadline = -1;
  if (fcntl(sh->ctrl, F_GETFD) < 0) {
    PRINT_FATAL("fd %d is not open: run by the drover manager only (-h for help)", sh->ctrl);
    return 1;
  }
  /* Nothing the manager leaked to us (other nodes' pipes, sockets) may reach the child; fd 3, the
   * control socket, is close-on-exec too: the child must never hold it. */
  mark_inherited_fds_cloexec();
  /* A write to a closed pipe must be an error, not death; the child gets SIG_DFL back. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    PRINT_FATAL("signal(SIGPIPE) failed: %s", strerror(errno));
    return 1;
  }
  sigemptyset(&chld_set);
  sigaddset(&chld_set, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld_set, NULL) != 0) {
    PRINT_FATAL("sigprocmask failed: %s", strerror(errno));
    return 1;
  }
  int sfd = signalfd(-1, &chld_set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    PRINT_FATAL("signalfd failed: %s", strerror(errno));
    return 1;
  }
  sh->sfd = sfd;
  /* Double-forked descendants re-parent to us instead of init, so we can reap them. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    PRINT_WARN("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", strerror(errno));
  struct timeval send_timeout = {.tv_sec = 5, .tv_usec = 0};
  if (setsockopt(sh->ctrl, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) != 0)
    PRINT_WARN("setsockopt(SO_SNDTIMEO) failed: %s", strerror(errno));
  /* Until SPAWN arrives this shepherd is idle (a launcher's spare, or one just started): its
   * name says so in ps and /proc/<pid>/comm, which is how tests tell a spare from a leak. */
  if (prctl(PR_SET_NAME, SHEPHERD_IDLE_NAME, 0, 0, 0) != 0)
    PRINT_DEBUG("prctl(PR_SET_NAME) failed: %s", strerror(errno));
  return 0;
}

/*
 * Step 2: receives the SPAWN message one record at a time until spawn_assembly_add has the whole
 * payload, and parses it into *req. On failure the manager got an ERROR naming why (unless it hung
 * up) and nothing stays allocated.
 */
static int receive_request(struct shepherd *sh, struct spawn_request *req) {
  struct spawn_assembly a;
  const char *why = NULL;
  memset(&a, 0, sizeof a);
  for (int first = 1;; first = 0) {
    ssize_t n;
    struct iovec iov = {.iov_base = sh->buf, .iov_len = sizeof sh->buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    do {
      n = recvmsg(sh->ctrl, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || n < 0) {
      if (n == 0) PRINT_INFO("manager hung up %s SPAWN", first ? "before" : "in the middle of");
      else PRINT_FATAL("recvmsg(SPAWN) failed: %s", strerror(errno));
      free(a.payload);
      return 1;
    }
    /* The first record of a shepherd that was waiting idle: its name changes once SPAWN begins. */
    if (first && prctl(PR_SET_NAME, SHEPHERD_NAME, 0, 0, 0) != 0)
      PRINT_DEBUG("prctl(PR_SET_NAME) failed: %s", strerror(errno));
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
      free(a.payload);
      send_error(sh->ctrl, EMSGSIZE, "SPAWN record larger than PROTOCOL_MAX_MESSAGE");
      return 1;
    }
    int r = spawn_assembly_add(&a, sh->buf, (size_t)n, &why);
    if (r < 0) {
      send_error(sh->ctrl, EPROTO, why);
      return 1;
    }
    if (r == 1) break;
  }
  int refused = parse_spawn(a.payload, a.total, req, &why);
  free(a.payload); /* parse_spawn copied every string into the request's arena */
  if (refused) {
    send_error(sh->ctrl, EPROTO, why);
    return 1;
  }
  return 0;
}

enum start_result { CHILD_RUNNING, CHILD_NEVER_RAN, START_FAILED };

/*
 * Step 3: starts the child the request describes. The manager is told here when it cannot run:
 * EXEC_FAILED when the child never ran the command (errno and stage), ERROR when the shepherd failed.
 */
static enum start_result start(struct shepherd *sh, struct spawn_request *req, int parent_fds[3]) {
  int exec_errno = 0, exec_stage = STAGE_SETUP;
  if (start_child(req, &sh->child, parent_fds, &exec_errno, &exec_stage)) {
    send_error(sh->ctrl, errno, "could not create pipes");
    return START_FAILED;
  }
  if (exec_errno != 0) {
    uint8_t p[EXEC_FAILED_PAYLOAD_SIZE] = {0};
    put_u32(p, (uint32_t)exec_errno);
    p[4] = (uint8_t)exec_stage;
    send_message(sh->ctrl, MSG_EXEC_FAILED, p, sizeof p, NULL, 0);
    return CHILD_NEVER_RAN;
  }
  sh->grace_ms = req->kill_grace_ms;
  free(req->arena);
  return CHILD_RUNNING;
}

/* Step 4: STARTED, with the parent ends of the pipes; the manager owns them now. 1 when it failed. */
static int hand_fds_back(struct shepherd *sh, const int parent_fds[3]) {
  const struct child *child = &sh->child;
  uint8_t p[STARTED_PAYLOAD_SIZE] = {0};
  int fds[3];
  int nfds = 0;
  uint8_t mask = 0;
  put_u32(p, (uint32_t)child->pid);
  put_u32(p + 4, (uint32_t)child->pgid);
  for (int i = 0; i < 3; i++) {
    if (parent_fds[i] >= 0) {
      mask |= (uint8_t)(1 << i);
      fds[nfds++] = parent_fds[i];
    }
    put_u32(p + 12 + 4 * i, child->pipe_sizes[i]);
  }
  p[8] = mask;
  p[9] = (uint8_t)((child->pty_master >= 0 ? STARTED_FLAG_PTY : 0) |
                   (child->cgroup[0] != '\0' ? STARTED_FLAG_CGROUP : 0));
  int sent = send_message(sh->ctrl, MSG_STARTED, p, sizeof p, fds, nfds);
  /* Out of the data path: the manager owns the parent ends now. */
  for (int i = 0; i < nfds; i++) close(fds[i]);
  return sent;
}

/* The safety guarantee: the manager is gone (or can no longer be told anything), so the child's
 * whole tree is stopped as a STOP(SIGTERM, the SPAWN's grace) would, and nothing of it stays. */
static void stop_after_hangup(struct shepherd *sh) {
  PRINT_INFO("manager hung up; stopping group %d", (int)sh->child.pgid);
  stop_tree(&sh->child, sh->sfd, SIGTERM, sh->grace_ms, STOP_AFTER_HANGUP);
}

static int check_header(const uint8_t *buf, size_t n, uint16_t *type_ptr) {
  if (n < PROTOCOL_HEADER_SIZE) return 1;
  if (get_u16(buf) != PROTOCOL_VERSION) return 1;
  if (get_u32(buf + 4) != n - PROTOCOL_HEADER_SIZE) return 1;
  *type_ptr = get_u16(buf + 2);
  return 0;
}

/* Reads one record from the manager and acts on it (SIGNAL, STOP, WINSIZE, FREEZE). 1 when it hung up. */
static int handle_message(struct shepherd *sh) {
  struct child *child = &sh->child;
  uint16_t type;
  ssize_t n;
  do {
    n = recv(sh->ctrl, sh->buf, sizeof sh->buf, MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n == 0 || (n < 0 && errno != EAGAIN)) return 1;
  if (n < 0) return 0;
  if ((size_t)n > sizeof sh->buf || check_header(sh->buf, (size_t)n, &type)) {
    send_error(sh->ctrl, EPROTO, "bad header");
    return 0;
  }
  const uint8_t *p = sh->buf + PROTOCOL_HEADER_SIZE;
  size_t plen = (size_t)n - PROTOCOL_HEADER_SIZE;
  int32_t signo = plen >= 4 ? (int32_t)get_u32(p) : 0;
  if (type == MSG_SIGNAL && plen == SIGNAL_PAYLOAD_SIZE && signo >= 1 &&
      signo <= SHEPHERD_MAX_SIGNAL && p[4] <= SCOPE_GROUP) {
    if (p[4] == SCOPE_GROUP) signal_group(child, signo);
    else signal_leader(child, signo);
  } else if (type == MSG_STOP && plen == STOP_PAYLOAD_SIZE && signo >= 1 &&
             signo <= SHEPHERD_MAX_SIGNAL) {
    uint32_t stop_grace = get_u32(p + 4);
    stop_tree(child, sh->sfd, signo, stop_grace, STOP_SIGNAL_ONLY);
    if (signo != SIGKILL) {
      /* The earliest deadline of the STOPs received wins. */
      int64_t deadline = now_ms() + stop_grace;
      if (sh->stop_deadline < 0 || deadline < sh->stop_deadline) sh->stop_deadline = deadline;
    }
  } else if (type == MSG_WINSIZE && plen == WINSIZE_PAYLOAD_SIZE && get_u16(p) >= 1 &&
             get_u16(p + 2) >= 1) {
    struct winsize ws = {.ws_col = get_u16(p), .ws_row = get_u16(p + 2)};
    if (child->pty_master >= 0 && ioctl(child->pty_master, TIOCSWINSZ, &ws) != 0)
      PRINT_WARN("ioctl(TIOCSWINSZ) failed: %s", strerror(errno));
  } else if (type == MSG_FREEZE && plen == FREEZE_PAYLOAD_SIZE && p[0] <= 1) {
    uint32_t signalled, running;
    freeze_tree(child, p[0], &signalled, &running);
    uint8_t reply[FROZEN_PAYLOAD_SIZE] = {0};
    reply[0] = p[0];
    put_u32(reply + 4, signalled);
    put_u32(reply + 8, running);
    send_message(sh->ctrl, MSG_FROZEN, reply, sizeof reply, NULL, 0);
  } else {
    send_error(sh->ctrl, EPROTO, "unknown message or field out of range");
  }
  return 0;
}

enum ending { CHILD_EXITED, MANAGER_GONE, SUPERVISION_FAILED };

/*
 * Step 5: the event loop, until the child exits or the manager is gone: the control socket's
 * messages, SIGCHLD (signalfd) for re-parented orphans, the leader's pidfd for its exit, and the
 * deadline of a STOP's grace (after which the tree is killed).
 */
static enum ending supervise(struct shepherd *sh) {
  struct child *child = &sh->child;
  for (;;) {
    /* poll ignores a negative fd (no pidfd_open). */
    struct pollfd pfds[3] = {{.fd = sh->ctrl, .events = POLLIN},
                             {.fd = sh->sfd, .events = POLLIN},
                             {.fd = child->pidfd, .events = POLLIN}};
    int timeout = -1;
    if (sh->stop_deadline >= 0) {
      int64_t left = sh->stop_deadline - now_ms();
      timeout = left > 0 ? (int)left : 0;
    }
    if (poll(pfds, 3, timeout) < 0) {
      if (errno == EINTR) continue;
      PRINT_FATAL("poll failed: %s", strerror(errno));
      return SUPERVISION_FAILED;
    }
    if (sh->stop_deadline >= 0 && now_ms() >= sh->stop_deadline && !child->reaped) {
      PRINT_INFO("stop grace expired; killing the tree of %d", (int)child->pid);
      stop_tree(child, sh->sfd, SIGKILL, 0, STOP_SIGNAL_ONLY);
      sh->forced = 1;
      sh->stop_deadline = -1;
    }
    if ((pfds[1].revents & POLLIN) || (pfds[2].revents & POLLIN)) {
      drain_signalfd(sh->sfd);
      if (reap(child, &sh->report)) return CHILD_EXITED;
    }
    if (pfds[0].revents & POLLIN) {
      if (handle_message(sh)) return MANAGER_GONE;
    } else if (pfds[0].revents & (POLLHUP | POLLERR)) {
      return MANAGER_GONE;
    }
  }
}

int main(int argc, char **argv) {
  static struct shepherd sh; /* static: the record buffer is 192 KiB */
  struct spawn_request req;
  int parent_fds[3];

  if (parse_args(argc, argv) != 0) return SHEPHERD_EXIT_INTERNAL;
  if (prepare(&sh) != 0) return SHEPHERD_EXIT_INTERNAL;
  if (receive_request(&sh, &req) != 0) return SHEPHERD_EXIT_INTERNAL;
  switch (start(&sh, &req, parent_fds)) {
  case START_FAILED: return SHEPHERD_EXIT_INTERNAL; /* the manager got an ERROR */
  case CHILD_NEVER_RAN: return 0;                    /* the manager got EXEC_FAILED */
  case CHILD_RUNNING: break;
  }
  if (hand_fds_back(&sh, parent_fds) != 0) {
    stop_after_hangup(&sh);
    return SHEPHERD_EXIT_INTERNAL;
  }
  enum ending ending = supervise(&sh);
  if (ending == CHILD_EXITED) {
    /* Step 6: report, then the group policy "kill": nothing of the tree outlives its leader. */
    send_exited(sh.ctrl, &sh.report, sh.forced);
    stop_tree(&sh.child, sh.sfd, SIGKILL, 0, STOP_TO_THE_END);
    return 0;
  }
  stop_after_hangup(&sh);
  return ending == MANAGER_GONE ? 0 : SHEPHERD_EXIT_INTERNAL;
}
