/*
 * The SPAWN request's reassembly and parser (spawn-request.h). Nothing here touches a process or a
 * descriptor: every byte read is bounds-checked against what is left of its input, every count is
 * bounded by the payload's length before anything is allocated, and a refusal frees what it took.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "spawn-request.h"
#define LOG_PROGRAM "shepherd"
#include "common.h"

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

/* Parses a SPAWN payload (spawn-request.h). */
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

/* Feeds one record of a SPAWN message to its reassembly (spawn-request.h). */
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
