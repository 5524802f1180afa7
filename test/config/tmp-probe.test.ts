import { test } from 'vitest';
import { createConfigJsonSchema, configSchema } from '../../config/schema.js';
import { getExpectedPhrase, createConfigIssueFromZod } from '../../config/issues.js';
test('probe', () => {
  console.log(JSON.stringify(createConfigJsonSchema(), null, 1).slice(0, 6000));
  const r = configSchema.safeParse({ name: 'x!', nodes: { 'a!': {}, b: { command: 42, ready: { log: { pattern: '(' }, tcp: { port: 0 } }, stop: { signal: 'SIGTREM' }, output: { maxBytes: '1MB' } }, c: { command: 'x y' }, d: { command: ['x', ''], env: { A: 1, B: true, C: null } }, e: null } }, { reportInput: true, error: getExpectedPhrase });
  if (!r.success) console.log(r.error.issues.map(createConfigIssueFromZod));
});
