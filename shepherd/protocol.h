/*
 * drover manager <-> shepherd protocol, version 3.
 *
 * This header is the one specification of the wire format. `native/protocol.ts` mirrors it for the
 * manager; a change here is a change there, and PROTOCOL_VERSION goes up when a layout changes.
 *
 * Transport: the shepherd inherits one end of an AF_UNIX SOCK_SEQPACKET socketpair as fd 3
 * (SHEPHERD_CONTROL_FD). Records never split or merge. Every record is at most
 * PROTOCOL_MAX_MESSAGE bytes (it must fit the socket buffers whole); every message is one record,
 * except SPAWN, which may span several (below).
 *
 * Frame: an 8-byte header followed by `length` payload bytes. All integers little-endian.
 *
 *   offset 0  u16 version   PROTOCOL_VERSION; a peer refuses any other (ERROR / ERR_PROTOCOL)
 *   offset 2  u16 type      one of enum shepherd_msg_type
 *   offset 4  u32 length    payload bytes after the header; must equal record size - 8
 *
 * Strings are encoded as u32 byte length + bytes, no terminating NUL, and may not contain NUL.
 *
 * SPAWN payloads are as large as execve(2) accepts (ARG_MAX is a quarter of the stack limit, 2 MiB
 * by default and at most 6 MiB; 128 KiB per string), so the SPAWN *message* is split over records:
 *   SPAWN      (1)  first record:  u32 total (1..SHEPHERD_MAX_SPAWN): bytes of the SPAWN payload
 *                   below, followed by its first bytes (0..total)
 *   SPAWN_MORE (5)  continuation:  the next bytes of the payload (at least 1)
 * Continuation records follow the first until exactly `total` bytes arrived; any other record
 * before that, a record carrying more bytes than are missing, or a hangup refuses the SPAWN. The
 * shepherd reassembles the payload into one buffer (at most SHEPHERD_MAX_SPAWN bytes, allocated
 * when the first record announces it) and parses that. Counts in the payload are bounded by its
 * length (each string takes at least 4 bytes), so SHEPHERD_MAX_ARGS is SHEPHERD_MAX_SPAWN / 4.
 * What execve refuses (E2BIG) is reported as EXEC_FAILED.
 *
 * Manager -> shepherd
 *   SPAWN   (1)  exactly once, first message (one or more records, see above); its payload:
 *                  u8  stdin mode    (STDIO_PIPE | STDIO_NULL)
 *                  u8  stdout mode
 *                  u8  stderr mode
 *                  u8  flags         SPAWN_FLAG_PTY: the child's stdin/stdout/stderr are the slave
 *                                    of a new pty, which becomes its controlling terminal; the
 *                                    three modes must then be STDIO_PIPE
 *                  u32 kill grace ms  used when the manager hangs up (SIGTERM -> grace -> SIGKILL)
 *                  u32 pipe size     bytes requested with F_SETPIPE_SZ for every pipe; 0 = the
 *                                    kernel default; at most SHEPHERD_MAX_PIPE_SIZE
 *                  u16 pty columns, u16 pty rows   (1..65535; 0 = 80x24); ignored without a pty
 *                  u32 argc (1..SHEPHERD_MAX_ARGS)
 *                  u32 envc (0..SHEPHERD_MAX_ARGS)
 *                  u32 rlimit count (0..SHEPHERD_MAX_RLIMITS)
 *                  str cwd (may be empty: inherit the shepherd's cwd)
 *                  str cgroup: absolute path of a cgroup v2 directory to create for the child
 *                      (empty = none). The child moves itself into it before exec, so the command
 *                      never runs outside it; the shepherd kills it with cgroup.kill and removes
 *                      the directory when the child's tree is gone
 *                  str argv[argc]  argv[0] is looked up in PATH of the *child's* env if it has no '/'
 *                  str env[envc]   "KEY=VALUE"; the child's whole environment
 *                  rlimit[count]   u32 resource (RLIMIT_*, 0..SHEPHERD_MAX_RLIMITS-1), u64 soft,
 *                                  u64 hard (SHEPHERD_RLIM_INFINITY = unlimited); soft <= hard;
 *                                  applied with setrlimit(2) in the child before exec
 *   SIGNAL  (2)  i32 signo (1..64), u8 scope (SCOPE_LEADER | SCOPE_GROUP): the leader through its
 *                pidfd, or the group with one kill(-pgid)
 *   STOP    (3)  i32 signo (1..64), u32 grace ms: stop the child's tree; the shepherd runs the
 *                escalation itself so it completes if the manager dies:
 *                1. the child's cgroup thawed (cgroup.freeze 0: the manager may have frozen it), then
 *                   signo exactly once to every process of the tree: the process group with one
 *                   kill(-pgid), then each other descendant of the shepherd and each other member
 *                   of the child's cgroup through a pidfd (the set is built first, so a process in
 *                   both the group and the cgroup gets one delivery), then SIGCONT the same way
 *                2. after the grace (at once when signo is SIGKILL): cgroup.kill, then freeze and
 *                   kill the shepherd's whole descendant tree (SIGSTOP each member as it is found,
 *                   re-scan until no new member appears and all are stopped, SIGKILL them all)
 *   WINSIZE (4)  u16 columns, u16 rows (1..65535): TIOCSWINSZ on the pty (ignored without one)
 *   SPAWN_MORE (5)  continuation of SPAWN (above); never valid after SPAWN is complete
 *   FREEZE  (6)  u8 frozen (1 freeze, 0 thaw): freezes or thaws the child's whole tree with signals,
 *                for a child without a cgroup (a cgroup is frozen by the manager, cgroup.freeze):
 *                freeze: SIGSTOP to the process group with one kill(-pgid), then to each descendant
 *                of the shepherd and each member of the child's cgroup through a pidfd as the walk
 *                finds it; the walk re-scans until a scan finds no new member and every member
 *                shows stopped (state T), for at most FREEZE_WAIT_MS (a process in uninterruptible
 *                sleep stops only when it leaves it). thaw: SIGCONT to the same set, once each.
 *                Always answered with FROZEN, in order
 *
 * Shepherd -> manager
 *   STARTED     (16) i32 pid, i32 pgid, u8 fd mask (bit0 stdin, bit1 stdout, bit2 stderr),
 *                    u8 flags (STARTED_FLAG_PTY, STARTED_FLAG_CGROUP: the child runs in the
 *                    SPAWN's cgroup), 2 x u8 0, u32 pipe size[3] (F_GETPIPE_SZ of each pipe as
 *                    created, 0 for STDIO_NULL or a pty);
 *                    SCM_RIGHTS carries the parent ends of the pipes in mask order
 *                    (stdin write end, stdout read end, stderr read end). With a pty, the stdout
 *                    slot carries the pty master and the stdin slot a second descriptor of it
 *   EXEC_FAILED (17) i32 errno, u8 stage (STAGE_*), 3 x u8 0: the child never ran the command;
 *                    the shepherd exits after sending it
 *   EXITED      (18) i32 exit code (-1 when signaled), i32 signal (0 when exited),
 *                    u8 core dumped, u8 forced kill (the STOP grace ran out), 2 x u8 0,
 *                    u64 user CPU us, u64 system CPU us, u64 max RSS KiB,
 *                    u64 minor faults, u64 major faults, u64 voluntary ctx switches,
 *                    u64 involuntary ctx switches; the shepherd then freezes and kills what is left
 *                    of the tree (the group policy: nothing outlives the leader), reaps it, removes
 *                    the cgroup and exits
 *   ERROR       (19) i32 errno, str message: shepherd-internal failure; the shepherd then kills the
 *                    child's group (if any) and exits with SHEPHERD_EXIT_INTERNAL
 *   FROZEN      (20) u8 frozen (as in the FREEZE it answers), 3 x u8 0, u32 processes signalled,
 *                    u32 processes not stopped when FREEZE_WAIT_MS ran out (0 after a thaw)
 *
 * Manager hangup (EOF or an error on fd 3, e.g. the manager was SIGKILLed): the shepherd stops the
 * tree as STOP(SIGTERM, kill grace ms of the SPAWN) would, reaps it, removes the cgroup and exits.
 *
 * What the shepherd signals: only its own descendants (each named by a pidfd verified to be a live
 * child of the shepherd or of another verified member), its unreaped child's process group, and
 * the members of the cgroup it created (each verified by pidfd and a re-read of cgroup.procs). It
 * is child subreaper, so descendants whose parent died are re-parented to it and stay in reach.
 */
#ifndef DROVER_SHEPHERD_PROTOCOL_H
#define DROVER_SHEPHERD_PROTOCOL_H

#define PROTOCOL_VERSION 3
#define SHEPHERD_CONTROL_FD 3
#define PROTOCOL_HEADER_SIZE 8
/* Largest record either side sends or accepts. SOCK_SEQPACKET records must fit the socket buffer;
 * the addon sets SO_SNDBUF/SO_RCVBUF to at least this. */
#define PROTOCOL_MAX_MESSAGE (192 * 1024)
/* Largest SPAWN payload, reassembled from its records: above Linux's largest ARG_MAX (6 MiB) with
 * room for the wire's per-string overhead. */
#define SHEPHERD_MAX_SPAWN (16 * 1024 * 1024)
/* argc + envc: each string takes at least 4 bytes of the payload. */
#define SHEPHERD_MAX_ARGS (4 * 1024 * 1024)
/* The u32 total at the start of the first SPAWN record. */
#define SPAWN_TOTAL_SIZE 4
#define SHEPHERD_MAX_SIGNAL 64
/* Linux caps unprivileged pipes at /proc/sys/fs/pipe-max-size (1 MiB by default); root may go
 * higher, but a manager never needs more than this per pipe. */
#define SHEPHERD_MAX_PIPE_SIZE (64 * 1024 * 1024)
/* RLIMIT_NLIMITS on Linux is 16 (resource numbers 0..15). */
#define SHEPHERD_MAX_RLIMITS 16
#define SHEPHERD_RLIM_INFINITY UINT64_MAX
#define SHEPHERD_MAX_PATH 4096

enum shepherd_msg_type {
  MSG_SPAWN = 1,
  MSG_SIGNAL = 2,
  MSG_STOP = 3,
  MSG_WINSIZE = 4,
  MSG_SPAWN_MORE = 5,
  MSG_FREEZE = 6,
  MSG_STARTED = 16,
  MSG_EXEC_FAILED = 17,
  MSG_EXITED = 18,
  MSG_ERROR = 19,
  MSG_FROZEN = 20
};

enum shepherd_stdio_mode { STDIO_PIPE = 0, STDIO_NULL = 1 };

enum shepherd_spawn_flags { SPAWN_FLAG_PTY = 1 };

enum shepherd_started_flags { STARTED_FLAG_PTY = 1, STARTED_FLAG_CGROUP = 2 };

enum shepherd_signal_scope { SCOPE_LEADER = 0, SCOPE_GROUP = 1 };

/* Where in the child's start-up an EXEC_FAILED came from. */
enum shepherd_exec_stage {
  STAGE_EXEC = 0,  /* execve(2) of argv[0] */
  STAGE_CHDIR = 1, /* chdir(2) to cwd */
  STAGE_SETUP = 2, /* pipes, dup2, fork or another step before exec */
  STAGE_RLIMIT = 3, /* setrlimit(2) of a requested limit */
  STAGE_CGROUP = 4, /* creating or joining the requested cgroup */
  STAGE_PTY = 5,    /* opening the pty or making it the controlling terminal */
};

#define STARTED_PAYLOAD_SIZE 24
#define EXEC_FAILED_PAYLOAD_SIZE 8
#define EXITED_PAYLOAD_SIZE 68
#define SIGNAL_PAYLOAD_SIZE 5
#define STOP_PAYLOAD_SIZE 8
#define WINSIZE_PAYLOAD_SIZE 4
#define FREEZE_PAYLOAD_SIZE 1
#define FROZEN_PAYLOAD_SIZE 12
/* How long a FREEZE waits for every member of the tree to show stopped before it answers. */
#define FREEZE_WAIT_MS 2000
#define RLIMIT_ENTRY_SIZE 20

/* The shepherd's process name (/proc/<pid>/comm, at most 15 bytes) while it waits for SPAWN, and
 * after. A launcher keeps spare shepherds waiting for SPAWN (launcher-protocol.h). */
#define SHEPHERD_IDLE_NAME "shepherd-idle"
#define SHEPHERD_NAME "shepherd"

/* Exit status of the shepherd itself when it fails internally (tini reserves one status too). */
#define SHEPHERD_EXIT_INTERNAL 70

#endif
