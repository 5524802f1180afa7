/*
 * libFuzzer harness for the shepherd's SPAWN input: the record reassembly (spawn_assembly_add) and
 * the payload parser (parse_spawn), the one place where bytes from the manager are turned into
 * argv/env. Built and run by scripts/fuzz-shepherd.sh (npm run fuzz) with ASan and UBSan over the
 * same source file the shepherd is built from (shepherd/src/spawn-request.c).
 *
 * Input: one mode byte, then
 *   mode bit 0 clear: a SPAWN payload, given to parse_spawn as is;
 *   mode bit 0 set:   a stream of records, each a u16 little-endian length and that many bytes
 *                     (the last one cut short by the input's end), fed to spawn_assembly_add in
 *                     order until it completes, refuses, or the stream ends; a completed payload
 *                     then goes through parse_spawn.
 */
#include "../src/spawn-request.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parse(const uint8_t *payload, size_t size) {
  struct spawn_request req;
  const char *why = NULL;
  if (parse_spawn(payload, size, &req, &why) != 0) {
    if (why == NULL) abort(); /* every refusal names its reason */
    if (req.arena != NULL || req.argv != NULL) abort(); /* and allocates nothing */
    return;
  }
  /* Invariants of an accepted request: stdio modes in range, argv non-empty and NULL-terminated,
   * every env entry KEY=VALUE with a non-empty key, every string NUL-terminated inside the arena. */
  for (int i = 0; i < 3; i++)
    if (req.stdio_mode[i] != STDIO_PIPE && req.stdio_mode[i] != STDIO_NULL) abort();
  if (req.argv[0] == NULL || req.argv[0][0] == '\0') abort();
  size_t count = 0;
  for (char **a = req.argv; *a != NULL; a++, count++) (void)strlen(*a);
  if (count < 1 || count > SHEPHERD_MAX_ARGS) abort();
  for (char **e = req.envp; *e != NULL; e++) {
    const char *eq = strchr(*e, '=');
    if (eq == NULL || eq == *e) abort();
  }
  (void)strlen(req.cwd);
  if (req.cgroup[0] != '\0' && (req.cgroup[0] != '/' || strlen(req.cgroup) >= SHEPHERD_MAX_PATH)) abort();
  if (req.pipe_size > SHEPHERD_MAX_PIPE_SIZE || req.rlimit_count > SHEPHERD_MAX_RLIMITS) abort();
  for (uint32_t i = 0; i < req.rlimit_count; i++)
    if (req.rlimits[i].resource >= SHEPHERD_MAX_RLIMITS || req.rlimits[i].soft > req.rlimits[i].hard) abort();
  if ((req.flags & SPAWN_FLAG_PTY) &&
      (req.stdio_mode[0] | req.stdio_mode[1] | req.stdio_mode[2]) != STDIO_PIPE)
    abort();
  free(req.arena);
}

static void check_records(const uint8_t *data, size_t size) {
  struct spawn_assembly a;
  memset(&a, 0, sizeof a);
  size_t off = 0;
  while (off + 2 <= size) {
    size_t len = get_u16(data + off);
    off += 2;
    if (len > size - off) len = size - off;
    const char *why = NULL;
    uint32_t before = a.have;
    int r = spawn_assembly_add(&a, data + off, len, &why);
    off += len;
    if (r < 0) {
      /* A refusal names its reason and leaves nothing allocated. */
      if (why == NULL || a.payload != NULL || a.total != 0 || a.have != 0) abort();
      return;
    }
    /* Progress is bounded by the record, the total by SHEPHERD_MAX_SPAWN. */
    if (a.payload == NULL || a.total == 0 || a.total > SHEPHERD_MAX_SPAWN || a.have > a.total) abort();
    if (a.have - before > len) abort();
    if (r == 1) {
      if (a.have != a.total) abort();
      check_parse(a.payload, a.total);
      free(a.payload);
      return;
    }
  }
  free(a.payload); /* the stream ended mid-SPAWN, as a hangup would */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) check_records(data + 1, size - 1);
  else check_parse(data + 1, size - 1);
  return 0;
}
