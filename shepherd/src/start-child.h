/*
 * Starting the child: its pipes (or a pty), its cgroup, vfork and exec, and the report of a child
 * that never ran its command (errno and stage). The rest of the shepherd sees only struct child.
 */
#ifndef DROVER_START_CHILD_H
#define DROVER_START_CHILD_H

#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"
#include "spawn-request.h"

struct child {
  pid_t pid;
  pid_t pgid;
  int reaped;
  int pidfd;       /* pidfd_open(2) of pid, or -1 where the kernel lacks it */
  int pty_master;  /* the shepherd's own descriptor of the pty master (WINSIZE), or -1 */
  char cgroup[SHEPHERD_MAX_PATH]; /* the child's cgroup directory, or "" */
  uint32_t pipe_sizes[3];
};

/*
 * Creates the pipes (or pty), the cgroup, forks, and waits for the child to exec. On success
 * *child is filled and parent_fds holds the parent ends (-1 for STDIO_NULL). On exec failure
 * exec_errno and exec_stage are set and the child is reaped. Returns 1 only on shepherd-internal
 * failure (errno set).
 */
int start_child(const struct spawn_request *req, struct child *child, int parent_fds[3], int *exec_errno,
                int *exec_stage);

/* Writes a short string to dir/name (cgroup control files); 0 on success, else errno. */
int write_file(const char *dir, const char *name, const char *text);

#endif
