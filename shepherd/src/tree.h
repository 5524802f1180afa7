/*
 * The descendants of the calling process (the shepherd, or the launcher), found and signalled
 * without ever naming a process that is not one of them.
 *
 * A walk starts at the caller's own children (/proc/self/task/<tid>/children) and descends through
 * each member's children. Every member is named by a pidfd, opened and then verified: its
 * /proc/<pid>/stat says its parent is the caller or a member, and both it and that parent are
 * still alive (pidfd not readable) after the stat was read, so the stat was theirs and the parent
 * link was real. A pid number never reaches kill(2) except a direct child of the caller, which the
 * caller has not reaped and so cannot have been recycled; signals go through pidfd_send_signal(2).
 *
 * tree_freeze_kill_once() kills a tree that fights back (a fork bomb, processes that respawn what
 * dies): SIGSTOP every member as it is found, re-scan until a scan finds no new member and every
 * member is stopped (bounded by TREE_FREEZE_MS), then SIGKILL them all. A stopped process cannot
 * fork, so the set converges; killing generation by generation does not. The caller reaps.
 *
 * Requires pidfd_open (Linux 5.3). Without it only direct children are signalled; deeper members
 * are reached once their parents die and they are re-parented to the caller (it is a subreaper).
 * Each binary defines LOG_PROGRAM and includes common.h (logging, now_ms) before this header.
 */
#ifndef DROVER_TREE_H
#define DROVER_TREE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* How long one freeze waits for the members to stop before killing them anyway (a member in
 * uninterruptible sleep, or ptraced, may never show as stopped). */
#define TREE_FREEZE_MS 300
/* Members taken per round; a larger tree is killed in several rounds. */
#define TREE_MAX_MEMBERS 65536

struct tree_member {
  pid_t pid;
  pid_t pgrp;     /* process group when verified */
  int pidfd;      /* -1 only for a direct child of the caller where pidfd_open is unavailable */
  int direct;     /* a child of the caller itself, which only the caller reaps */
  int stoppable;  /* 0 once SIGSTOP was refused (EPERM: a setuid descendant) */
};

struct tree {
  struct tree_member *v;
  size_t n, cap;
  int out_of_fds; /* pidfd_open failed with EMFILE/ENFILE: this round stops growing */
};

/* State letter, parent and process group from /proc/<pid>/stat. 0 on success, 1 when gone. */
static inline int tree_read_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  ssize_t n;
  do {
    n = read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return 1;
  buf[n] = '\0';
  /* The command name may hold spaces and parentheses: fields resume after the last ')'. */
  char *p = strrchr(buf, ')');
  int s_ppid, s_pgrp;
  char s_state;
  if (p == NULL || sscanf(p + 1, " %c %d %d", &s_state, &s_ppid, &s_pgrp) != 3) return 1;
  *state = s_state;
  *ppid = (pid_t)s_ppid;
  *pgrp = (pid_t)s_pgrp;
  return 0;
}

/* 1 when the process of `pidfd` has exited (zombie or reaped): a pidfd polls readable then. */
static inline int tree_pidfd_exited(int pidfd) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int r;
  do {
    r = poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

struct pid_list {
  pid_t *v;
  size_t n, cap;
};

static inline int pid_list_push(struct pid_list *l, pid_t pid) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    pid_t *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) return 1;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = pid;
  return 0;
}

static inline int pid_list_has(const struct pid_list *l, pid_t pid) {
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i] == pid) return 1;
  return 0;
}

static inline void pid_list_free(struct pid_list *l) {
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

/* Appends the pids of one children file ("pid pid ... ") to *out; a vanished file adds none.
 * The file is read whole: it holds one short number per child, thousands at most. */
static inline int tree_read_children_file(const char *path, struct pid_list *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  int rc = buf == NULL;
  while (buf != NULL) {
    if (len + 1 == cap) {
      char *bigger = realloc(buf, cap * 2);
      if (bigger == NULL) {
        rc = 1;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  if (buf == NULL) return rc;
  buf[len] = '\0';
  for (char *p = buf;;) {
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p) break;
    p = end;
    if (pid > 0 && pid_list_push(out, (pid_t)pid) != 0) rc = 1;
  }
  free(buf);
  return rc;
}

/* The children of every thread of `pid` ("self" for the caller). */
static inline int tree_read_children(const char *pid, struct pid_list *out) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%s/task", pid);
  DIR *d = opendir(dir);
  if (d == NULL) return 0; /* gone */
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[sizeof dir + sizeof e->d_name + 16];
    snprintf(path, sizeof path, "%s/%s/children", dir, e->d_name);
    if (tree_read_children_file(path, out) != 0) rc = 1;
  }
  closedir(d);
  return rc;
}

static inline int tree_has(const struct tree *t, pid_t pid) {
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].pid == pid) return 1;
  return 0;
}

/* Appends a member. 1 when out of memory: the member was not added and its pidfd is the caller's. */
static inline int tree_push(struct tree *t, struct tree_member m) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    struct tree_member *v = realloc(t->v, cap * sizeof *v);
    if (v == NULL) return 1;
    t->v = v;
    t->cap = cap;
  }
  t->v[t->n++] = m;
  return 0;
}

/*
 * Adds `pid` if it is a live child of `parent` (the caller itself when parent_index is -1, else
 * member parent_index). Returns 1 when added, 0 when not (gone, exited, not that parent's child).
 */
static inline int tree_add_verified(struct tree *t, pid_t pid, long parent_index) {
  if (pid <= 0 || tree_has(t, pid) || t->n >= TREE_MAX_MEMBERS) return 0;
  pid_t parent = parent_index < 0 ? getpid() : t->v[parent_index].pid;
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE) t->out_of_fds = 1;
    /* Without a pidfd only a direct child may be named by its number: we have not reaped it. */
    if (parent_index >= 0 || errno == ESRCH || errno == EMFILE || errno == ENFILE) return 0;
  }
  char state;
  pid_t ppid, pgrp;
  if (tree_read_stat(pid, &state, &ppid, &pgrp) != 0 || ppid != parent || state == 'Z' || state == 'X' ||
      (fd >= 0 && tree_pidfd_exited(fd)) ||
      (parent_index >= 0 && t->v[parent_index].pidfd >= 0 && tree_pidfd_exited(t->v[parent_index].pidfd))) {
    if (fd >= 0) close(fd);
    return 0;
  }
  if (tree_push(t, (struct tree_member){.pid = pid, .pgrp = pgrp, .pidfd = fd, .direct = parent_index < 0, .stoppable = 1})) {
    if (fd >= 0) close(fd);
    return 0;
  }
  return 1;
}

/* Sends `signo` to member i: through its pidfd, or by number to a direct child without one. */
static inline int tree_signal_member(const struct tree_member *m, int signo) {
  int r;
  if (m->pidfd >= 0) {
    r = (int)syscall(SYS_pidfd_send_signal, m->pidfd, signo, NULL, 0);
  } else if (m->direct && m->pid > 1) {
    r = kill(m->pid, signo); /* a direct child, not reaped yet: its pid cannot have been recycled */
  } else {
    PRINT_FATAL("refusing to signal pid %d", (int)m->pid);
    errno = EINVAL;
    return -1;
  }
  if (r != 0 && errno != ESRCH) PRINT_WARN("signal %d to %d failed: %s", signo, (int)m->pid, strerror(errno));
  return r;
}

/*
 * One pass: adds the caller's children (except those in `exclude`) and, recursively, the children
 * of every member. New members get `signo` at once when it is not 0. Returns how many were added.
 */
static inline size_t tree_scan(struct tree *t, const struct pid_list *exclude, int signo) {
  size_t added = 0;
  struct pid_list kids = {0};
  tree_read_children("self", &kids);
  for (size_t k = 0; k < kids.n; k++) {
    if (exclude != NULL && pid_list_has(exclude, kids.v[k])) continue;
    if (tree_add_verified(t, kids.v[k], -1)) {
      added++;
      if (signo != 0 && tree_signal_member(&t->v[t->n - 1], signo) != 0 && errno == EPERM) t->v[t->n - 1].stoppable = 0;
    }
  }
  /* t->n grows while we walk: members added in this pass are descended in this pass too. */
  for (size_t i = 0; i < t->n && !t->out_of_fds; i++) {
    if (t->v[i].pidfd >= 0 && tree_pidfd_exited(t->v[i].pidfd)) continue; /* its children went to a subreaper */
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)t->v[i].pid);
    kids.n = 0;
    tree_read_children(pid, &kids);
    for (size_t k = 0; k < kids.n; k++) {
      if (tree_add_verified(t, kids.v[k], (long)i)) {
        added++;
        if (signo != 0 && tree_signal_member(&t->v[t->n - 1], signo) != 0 && errno == EPERM) t->v[t->n - 1].stoppable = 0;
      }
    }
  }
  pid_list_free(&kids);
  return added;
}

/* 1 when every member is stopped, exited, or cannot be stopped. */
static inline int tree_all_stopped(const struct tree *t) {
  for (size_t i = 0; i < t->n; i++) {
    const struct tree_member *m = &t->v[i];
    if (!m->stoppable) continue;
    char state;
    pid_t ppid, pgrp;
    if (tree_read_stat(m->pid, &state, &ppid, &pgrp) != 0) continue; /* gone */
    if (m->pidfd >= 0 && tree_pidfd_exited(m->pidfd)) continue;     /* the stat was not its own */
    if (state != 'T' && state != 't' && state != 'Z' && state != 'X') return 0;
  }
  return 1;
}

static inline void tree_free(struct tree *t) {
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].pidfd >= 0) close(t->v[i].pidfd);
  free(t->v);
  memset(t, 0, sizeof *t);
}

/* Raises the soft RLIMIT_NOFILE to the hard one for the pidfds of a large tree; *saved restores it. */
static inline int tree_raise_fd_limit(struct rlimit *saved) {
  if (getrlimit(RLIMIT_NOFILE, saved) != 0) return 1;
  struct rlimit raised = {.rlim_cur = saved->rlim_max, .rlim_max = saved->rlim_max};
  return raised.rlim_cur == saved->rlim_cur ? 1 : setrlimit(RLIMIT_NOFILE, &raised);
}

/*
 * Freezes the caller's descendants (except the subtrees of `exclude`, direct children the caller
 * keeps) and SIGKILLs them. Returns how many processes were killed (0: none was left). Does not
 * reap. The soft fd limit is raised for the pidfds and restored before returning, so nothing the
 * caller starts later inherits the change.
 */
static inline size_t tree_freeze_kill_once(const struct pid_list *exclude) {
  struct tree t = {0};
  struct rlimit saved;
  int raised = tree_raise_fd_limit(&saved) == 0;
  int64_t deadline = now_ms() + TREE_FREEZE_MS;
  for (;;) {
    /* Stopped before the scan and no new member found by it: nothing can fork any more. (Checked
     * after the scan instead, a member could fork between the two and the child be missed.) */
    int stopped = tree_all_stopped(&t);
    size_t added = tree_scan(&t, exclude, SIGSTOP);
    if (t.out_of_fds || t.n >= TREE_MAX_MEMBERS) break;
    if (stopped && added == 0) break;
    if (now_ms() >= deadline) {
      PRINT_INFO("%zu descendants did not all stop within %d ms; killing them anyway", t.n, TREE_FREEZE_MS);
      break;
    }
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};
    nanosleep(&pause, NULL); /* let the SIGSTOPs land */
  }
  size_t killed = t.n;
  for (size_t i = 0; i < t.n; i++) tree_signal_member(&t.v[i], SIGKILL);
  tree_free(&t);
  if (raised) setrlimit(RLIMIT_NOFILE, &saved);
  return killed;
}

#endif
