/*
 * libFuzzer harness for the shepherd's SPAWN parser (parse_spawn), the one place where bytes from
 * the manager are turned into argv/env. Built and run by scripts/fuzz-shepherd.sh (npm run fuzz)
 * with ASan and UBSan. The shepherd's own main() is renamed so the harness links.
 */
#define main shepherd_main
#include "../src/shepherd.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct spawn_request req;
  const char *why = NULL;
  if (parse_spawn(data, size, &req, &why) != 0) {
    if (why == NULL) abort(); /* every refusal names its reason */
    if (req.arena != NULL || req.argv != NULL) abort(); /* and allocates nothing */
    return 0;
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
  return 0;
}
