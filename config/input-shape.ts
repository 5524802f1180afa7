/**
 * Checks on a config value before the schema sees it, in one iterative walk (so it cannot run out
 * of stack, whatever it is given): no `__proto__` key (zod copies records by assignment, which
 * would drop it silently, and JSON.parse or YAML make it an own key), no cycle, nesting at most
 * `MAX_NESTING` deep, at most `MAX_VALUES` values. Parsed YAML already meets the last three (see
 * yaml.ts); a config object passed to `normalizeConfig()` may not.
 */
import { describeValue, formatPath, type ConfigIssue } from './issues.js';
import { MAX_NESTING, MAX_VALUES } from './yaml.js';

type Path = readonly PropertyKey[];

interface Frame {
  readonly value: object;
  readonly path: Path;
  readonly entries: readonly [PropertyKey, unknown][];
  next: number;
}

function isWalked(value: unknown): value is object {
  if (Array.isArray(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function entriesOf(value: object): [PropertyKey, unknown][] {
  return Array.isArray(value) ? value.map((item, index): [PropertyKey, unknown] => [index, item]) : Object.entries(value);
}

/** Every shape problem of `input`, each at its path; stops at the first bound crossed. */
export function checkInputShape(input: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!isWalked(input)) return issues;
  const onPath = new Map<object, Path>([[input, []]]);
  const stack: Frame[] = [{ value: input, path: [], entries: entriesOf(input), next: 0 }];
  let count = 1;
  while (stack.length > 0) {
    const frame = stack.at(-1)!;
    if (frame.next >= frame.entries.length) {
      stack.pop();
      onPath.delete(frame.value);
      continue;
    }
    const [key, value] = frame.entries[frame.next++]!;
    const path = [...frame.path, key];
    if (key === '__proto__') {
      issues.push({ path: formatPath(path), message: `expected a key other than "__proto__", got ${describeValue(key)}` });
      continue;
    }
    count += 1;
    if (count > MAX_VALUES) {
      issues.push({ path: formatPath(path), message: `expected at most ${MAX_VALUES} values in the whole config, got more` });
      break;
    }
    if (!isWalked(value)) continue;
    const ancestor = onPath.get(value);
    if (ancestor !== undefined) {
      issues.push({ path: formatPath(path), message: `expected no cycle, got a reference back to ${ancestor.length === 0 ? 'the whole config' : formatPath(ancestor)}` });
      continue;
    }
    if (stack.length >= MAX_NESTING) {
      issues.push({ path: formatPath(path), message: `expected nesting at most ${MAX_NESTING} levels deep, got deeper` });
      break;
    }
    onPath.set(value, path);
    stack.push({ value, path, entries: entriesOf(value), next: 0 });
  }
  return issues;
}
