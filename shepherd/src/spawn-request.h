/*
 * The SPAWN request: the one place where bytes from the manager become argv, env and limits.
 * spawn_assembly_add reassembles the payload from its records, parse_spawn turns it into a
 * spawn_request (layouts in ../protocol.h). Both are pure functions of their inputs, so the fuzz
 * harness (shepherd/fuzz/parse-spawn-fuzzer.c) drives them exactly as the shepherd does.
 */
#ifndef DROVER_SPAWN_REQUEST_H
#define DROVER_SPAWN_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

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

/* A SPAWN payload being reassembled from its records. Zero it before the first record. */
struct spawn_assembly {
  uint8_t *payload; /* total bytes, allocated when the first record arrives */
  uint32_t total;
  uint32_t have;
};

/*
 * Feeds one record (header included): the first record announces the payload's total length,
 * continuation records carry the rest. Returns 1 once the payload is complete (the caller owns and
 * frees a->payload), 0 while more records are needed, -1 when the record is refused: *why names
 * the reason and the assembly is reset (nothing stays allocated).
 */
int spawn_assembly_add(struct spawn_assembly *a, const uint8_t *record, size_t n, const char **why);

/*
 * Parses a SPAWN payload. On success fills *req, whose arena the caller frees; on failure returns 1
 * with a static reason in *why and allocates nothing.
 */
int parse_spawn(const uint8_t *payload, size_t len, struct spawn_request *req, const char **why);

#endif
