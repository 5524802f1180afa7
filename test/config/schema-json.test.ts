/**
 * config/schema.json (for editors) is derived from config/schema.ts and committed; this test fails
 * when it is stale. Regenerate with:
 *   DROVER_WRITE_SCHEMA_JSON=1 npx vitest run test/config/schema-json.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { createConfigJsonSchema } from '../../config/schema.js';

const SCHEMA_JSON_PATH = fileURLToPath(new URL('../../config/schema.json', import.meta.url));

test('config/schema.json matches config/schema.ts', () => {
  const expected = `${JSON.stringify(createConfigJsonSchema(), null, 2)}\n`;
  if (process.env['DROVER_WRITE_SCHEMA_JSON'] === '1') writeFileSync(SCHEMA_JSON_PATH, expected);
  expect(readFileSync(SCHEMA_JSON_PATH, 'utf8'), 'config/schema.json is stale; see the comment at the top of this test').toBe(expected);
});

test('config/schema.json flags unknown keys for editors', () => {
  const schema = createConfigJsonSchema();
  expect(schema['additionalProperties']).toBe(false);
  expect(Object.keys(schema['properties'] as object)).toEqual(['$schema', 'include', 'name', 'nodes', 'onNodeFailure', 'telemetry', 'output', 'network']);
});
