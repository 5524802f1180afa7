#!/usr/bin/env node
/**
 * The API reports: what each package entry point declares (its built .d.ts, after `@internal`
 * declarations are stripped), as API Extractor's review files etc/<name>.api.md. They are
 * committed, so a change of the public surface shows up in review.
 *
 *   node etc/api-report.mjs            check: exits 1, printing the diff, when a report is out of date
 *   node etc/api-report.mjs --update   rewrite etc/*.api.md from dist/ (npm run api:update)
 *
 * Reads dist/ (build it first: npm run build:ts). `--dts-root <dir>` reads the declarations from
 * another copy of dist/, `--entry <name>` checks one entry point (test/api uses both to show that an
 * added export fails the check).
 *
 * API Extractor's own messages that are errors here: a type the API uses but no entry point
 * exports (ae-forgotten-export), and any compiler error in the declarations. TSDoc syntax is not
 * linted (drover's comments are JSDoc as TypeScript and editors read it: `@default`, `{{ports.x}}`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CompilerState, Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every package.json "exports" entry with types, and its report. */
export const ENTRY_POINTS = [
  { name: 'drover', dts: 'index.d.ts', report: 'drover' },
  { name: 'drover/vitest', dts: 'vitest/index.d.ts', report: 'drover-vitest' },
  { name: 'drover/telemetry', dts: 'telemetry/public.d.ts', report: 'drover-telemetry' },
];

/** Messages that fail the check besides a changed report. */
const EXTRACTOR_MESSAGES = {
  default: { logLevel: 'warning' },
  // Every type reachable from the API must be importable by its users (see isForgottenExportAllowed).
  'ae-forgotten-export': { logLevel: 'error', addToApiReportFile: false },
  // drover marks nothing @public/@beta: what an entry point exports is public, @internal is stripped.
  'ae-missing-release-tag': { logLevel: 'none' },
  'ae-internal-missing-underscore': { logLevel: 'none' },
  // The report marks undocumented members `// (undocumented)` already; the list with line numbers would churn.
  'ae-undocumented': { logLevel: 'none' },
  // Links to internal helpers in a public comment read as text; not worth failing on.
  'ae-unresolved-link': { logLevel: 'none' },
};

/**
 * Symbols the API may name without an entry point exporting them, and why. `ConfigInput` is
 * `z.input<typeof configSchema>`: the config's shape has one source, the zod schema, whose object
 * is no API (its JSON Schema, config/schema.json, is shipped and checked by test/config).
 */
const UNEXPORTED_ALLOWED = new Map([['configSchema', 'the zod schema ConfigInput is derived from']]);

/**
 * API Extractor reads each entry point alone, so `drover/vitest` naming `Cluster` looks like a
 * forgotten export; a symbol the main entry `drover` exports is importable, so it is allowed.
 */
function isForgottenExportAllowed(message, mainExports) {
  const symbol = /The symbol "([^"]+)"/.exec(message.text)?.[1];
  return symbol !== undefined && (UNEXPORTED_ALLOWED.has(symbol) || mainExports.has(symbol));
}

/** Names (types included) the declaration file `dtsPath` exports, read from the program. */
function getExportedNames(compilerState, dtsPath) {
  const program = compilerState.program;
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(dtsPath);
  if (source === undefined) throw new Error(`api-report: ${dtsPath} is not in the program (build first: npm run build:ts)`);
  return new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(source)).map((symbol) => symbol.name));
}

function createConfig(entry, dtsRoot, reportFolder, tempFolder) {
  return ExtractorConfig.prepare({
    configObject: {
      projectFolder: ROOT,
      mainEntryPointFilePath: path.join(dtsRoot, entry.dts),
      bundledPackages: [],
      newlineKind: 'lf',
      compiler: {
        overrideTsconfig: {
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2022', 'ESNext.Disposable'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            types: ['node'],
            // The published declarations are type-checked as a consumer sees them (skipLibCheck:
            // false) by npm run test:package; here only the surface matters, at half the time.
            skipLibCheck: true,
          },
          files: [path.join(dtsRoot, entry.dts)],
        },
      },
      apiReport: { enabled: true, reportFileName: entry.report, reportFolder, reportTempFolder: tempFolder, includeForgottenExports: false },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'error' } },
        extractorMessageReporting: EXTRACTOR_MESSAGES,
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
    configObjectFullPath: path.join(ROOT, 'etc', 'api-report.mjs'),
    packageJsonFullPath: path.join(ROOT, 'package.json'),
  });
}

/**
 * Runs API Extractor for every entry point. Returns the entry points whose report is out of date
 * (check) or was rewritten (update), and whether any error was reported.
 */
export function runApiReports({ update = false, dtsRoot = path.join(ROOT, 'dist'), reportFolder = path.join(ROOT, 'etc'), only = null } = {}) {
  const tempFolder = mkdtempSync(path.join(os.tmpdir(), 'drover-api-report-'));
  const changed = [];
  let errors = 0;
  try {
    const configs = ENTRY_POINTS.map((entry) => createConfig(entry, dtsRoot, reportFolder, tempFolder));
    // One program for every entry point (the declarations are shared).
    const compilerState = CompilerState.create(configs[0], { additionalEntryPoints: configs.slice(1).map((config) => config.mainEntryPointFilePath) });
    const mainExports = getExportedNames(compilerState, configs[0].mainEntryPointFilePath);
    for (const [index, entry] of ENTRY_POINTS.entries()) {
      if (only !== null && entry.name !== only) continue;
      const result = Extractor.invoke(configs[index], {
        compilerState,
        localBuild: update,
        printApiReportDiff: !update,
        messageCallback: (message) => {
          if (message.messageId === 'ae-forgotten-export' && isForgottenExportAllowed(message, mainExports)) message.logLevel = 'none';
          // "Please copy <temp file> …": the temporary copy is gone when this ends; the message below says what to run.
          if (message.messageId === 'console-api-report-not-copied') message.logLevel = 'none';
          // "Analysis will use the bundled TypeScript version …" and similar chatter.
          if (message.category === 'console' && message.logLevel !== 'warning' && message.logLevel !== 'error') message.handled = true;
        },
      });
      if (result.apiReportChanged) changed.push(entry.name);
      errors += result.errorCount;
    }
  } finally {
    rmSync(tempFolder, { recursive: true, force: true });
  }
  return { changed, errors };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { update: { type: 'boolean', default: false }, 'dts-root': { type: 'string' }, entry: { type: 'string' } } });
  if (values.entry !== undefined && !ENTRY_POINTS.some((entry) => entry.name === values.entry)) {
    console.error(`api-report: --entry ${values.entry}: no such entry point; one of ${ENTRY_POINTS.map((entry) => entry.name).join(', ')}`);
    process.exit(2);
  }
  const { changed, errors } = runApiReports({
    update: values.update,
    only: values.entry ?? null,
    ...(values['dts-root'] ? { dtsRoot: path.resolve(values['dts-root']) } : {}),
  });
  if (errors > 0) {
    console.error(`api-report: ${errors} error(s) above; fix the declarations (export the type, or mark the declaration @internal)`);
    process.exit(1);
  }
  if (changed.length > 0 && !values.update) {
    console.error(
      `api-report: the public API of ${changed.join(', ')} changed (diff above). If the change is deliberate, run \`npm run api:update\` and commit etc/*.api.md; otherwise undo it.`,
    );
    process.exit(1);
  }
  console.log(values.update ? `api-report: ${changed.length === 0 ? 'reports unchanged' : `updated ${changed.join(', ')}`}` : 'api-report: the API reports are up to date');
}
