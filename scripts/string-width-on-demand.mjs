/**
 * The `string-width` that the bundle (scripts/bundle.mjs) gives yargs and its help layout (cliui,
 * wrap-ansi): string-width 8's own answer for printable ASCII, and string-width 8 itself, loaded
 * on first use, for anything else.
 *
 * string-width 8 builds an `Intl.Segmenter` and four Unicode-property RegExps at import (three with
 * the `v` flag, which V8 expands into code-point sets while parsing): ~30 ms of every cold `drover`
 * command, before its command line is even parsed, while yargs measures only drover's help text,
 * which is printable ASCII (test/cli/bundle.test.ts). Its first step for such text is
 * `/^[\u0020-\u007E]*$/` → the string's length; this does the same. Everything else (ANSI
 * escapes, tabs, wide or combining characters) goes to string-width 8, the bundle's entry
 * `string-width.js` beside this one, loaded with `require()`: Node ≥ 20.19 (package.json's
 * engines) can require an ES module, and this function must answer synchronously.
 *
 * @param {unknown} input the text to measure
 * @param {{ ambiguousIsNarrow?: boolean, countAnsiEscapeCodes?: boolean }} [options] string-width's options
 * @returns {number} the columns `input` takes in a terminal
 */
import { createRequire } from 'node:module';

/** @type {((input: unknown, options?: object) => number) | undefined} */
let measure;

export default function stringWidth(input, options) {
  if (typeof input === 'string' && /^[\u0020-\u007E]*$/.test(input)) return input.length;
  measure ??= createRequire(import.meta.url)('./string-width.js').default;
  return measure(input, options);
}
