/*
 * drover manager <-> launcher protocol, version 1.
 *
 * The launcher is one long-lived process per manager that posix_spawn(3)s shepherds on request,
 * so the manager's event loop never forks per spawn (Node's spawn() forks synchronously and
 * stalls the loop for tens of ms when the manager holds GiBs of memory; posix_spawn from a small
 * C process takes well under a millisecond). `native/launcher-protocol.ts` mirrors this header.
 *
 * Transport: the launcher inherits one end of an AF_UNIX SOCK_SEQPACKET socketpair as fd 3
 * (LAUNCHER_CONTROL_FD); argv[1] is the absolute path of the shepherd binary. One message per
 * record. Frame: the same 8-byte header as protocol.h (u16 version, u16 type, u32 payload length,
 * little-endian), with LAUNCHER_PROTOCOL_VERSION.
 *
 * Manager -> launcher
 *   LAUNCH        (1)  u32 request id: start one shepherd (fd 3 = a new control socket, stdin and
 *                      stdout /dev/null, stderr a new pipe, its own session, default signal
 *                      dispositions, empty signal mask, the launcher's environment).
 *
 * Launcher -> manager
 *   LAUNCHED      (16) u32 request id, i32 shepherd pid; SCM_RIGHTS carries two fds: the manager
 *                      end of the shepherd's control socket and the read end of its stderr pipe.
 *                      The launcher closes its copies right after sending, so the only copies are
 *                      the manager's and the shepherd's: the shepherd still sees the manager's
 *                      death as a hangup of its control socket.
 *   LAUNCH_FAILED (17) u32 request id, i32 errno: socketpair, pipe or posix_spawn failed.
 *
 * The launcher is child subreaper and records the pid of every shepherd it starts. A child that is
 * not one of them was re-parented to it: what a shepherd that died (SIGKILLed by its own child,
 * say) left behind. Its whole tree is frozen and killed (shepherd/src/tree.h: SIGSTOP each member,
 * re-scan until none is new, SIGKILL all) and reaped; the launcher checks on every SIGCHLD and once
 * a second (a re-parented process sends none). It never signals a shepherd or anything below a
 * live one.
 *
 * When the manager hangs up (EOF/POLLHUP on fd 3) the launcher takes no more requests. Shepherds it
 * started keep running: they answer to their own control sockets, not to the launcher, and stop
 * their trees on the same hangup. The launcher stays their subreaper until the last of them has
 * exited, then exits.
 */
#ifndef DROVER_LAUNCHER_PROTOCOL_H
#define DROVER_LAUNCHER_PROTOCOL_H

#define LAUNCHER_PROTOCOL_VERSION 1
#define LAUNCHER_CONTROL_FD 3
#define LAUNCHER_HEADER_SIZE 8

enum launcher_msg_type { LMSG_LAUNCH = 1, LMSG_LAUNCHED = 16, LMSG_LAUNCH_FAILED = 17 };

#define LAUNCH_PAYLOAD_SIZE 4
#define LAUNCHED_PAYLOAD_SIZE 8
#define LAUNCH_FAILED_PAYLOAD_SIZE 8

/* Exit status of the launcher when it fails internally. */
#define LAUNCHER_EXIT_INTERNAL 70

#endif
