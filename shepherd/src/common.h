/*
 * What the shepherd and the launcher both need, once: leveled logging, a monotonic clock,
 * little-endian wire helpers, sendmsg with SCM_RIGHTS, draining a signalfd, marking inherited fds
 * close-on-exec, and the pidfd syscall numbers for C libraries that lack them. Each source file
 * defines LOG_PROGRAM ("shepherd", "launcher") before including this header. Functions are static
 * inline so a file that uses only some of them still builds with -Werror.
 */
#ifndef DROVER_COMMON_H
#define DROVER_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef LOG_PROGRAM
#error "define LOG_PROGRAM before including common.h"
#endif

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---------------------------------------------------------------- logging */

static int verbosity = 1; /* 0 fatal, 1 warn, 2 info, 3 debug */

static inline void print_log(int level, const char *tag, const char *fmt, ...) {
  if (level > verbosity) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  dprintf(STDERR_FILENO, "[%s %d %s] %s\n", LOG_PROGRAM, (int)getpid(), tag, buf);
}
#define PRINT_FATAL(...) print_log(0, "FATAL", __VA_ARGS__)
#define PRINT_WARN(...) print_log(1, "WARN", __VA_ARGS__)
#define PRINT_INFO(...) print_log(2, "INFO", __VA_ARGS__)
#define PRINT_DEBUG(...) print_log(3, "DEBUG", __VA_ARGS__)

/* Milliseconds of CLOCK_MONOTONIC: every deadline is measured with it. */
static inline int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- wire helpers (little-endian) */

static inline void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Sends one record with up to 3 fds as SCM_RIGHTS, retrying EINTR. Returns 0, or the errno. */
static inline int send_with_fds(int fd, const uint8_t *buf, size_t len, const int *fds, int nfds) {
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * 3)];
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 3) return EINVAL;
  if (nfds > 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
  }
  for (;;) {
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

/* Reads every pending siginfo from a non-blocking signalfd, so the next poll waits for new ones. */
static inline void drain_signalfd(int sfd) {
  struct signalfd_siginfo si;
  while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
  }
}

/* Marks every fd from 3 up close-on-exec (close_range; a walk on kernels before 5.11), so nothing
 * inherited from the manager reaches what this process starts. */
static inline void mark_inherited_fds_cloexec(void) {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

#endif
