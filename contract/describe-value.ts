/** How error messages of every layer show a value they received. */

const MAX_RENDERED_LENGTH = 60;

/** Renders a received value with its type for messages: `42 (number)`, `"sometimes" (string)`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  if (value === null) return 'null (null)';
  const type = Array.isArray(value) ? 'array' : typeof value;
  const rendered = renderValue(value);
  const shown = rendered.length > MAX_RENDERED_LENGTH ? `${rendered.slice(0, MAX_RENDERED_LENGTH - 1)}…` : rendered;
  return `${shown} (${type})`;
}

function renderValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'function':
      return `[function ${value.name || 'anonymous'}]`;
    case 'object':
      try {
        return JSON.stringify(value) ?? String(value);
      } catch {
        // Cyclic objects and BigInts cannot be rendered as JSON; the type alone still tells the
        // user what went wrong, so a placeholder is enough.
        return Array.isArray(value) ? '[…]' : '{…}';
      }
    default:
      return String(value);
  }
}
