/**
 * Severity of one output line, parsed from the formats services commonly print: a JSON object's
 * `level` / `severity` (names, or pino/bunyan numbers 10…60), logfmt `level=warn`, and a leading
 * `[ERROR]`, `ERROR:`, `ERROR ` or `<3>`-style syslog prefix. Lines in none of these formats get
 * no severity (`UNSPECIFIED`): guessing from the stream would mislabel programs that log
 * everything to stderr.
 */

import { SeverityNumber } from '@opentelemetry/api-logs';

/** A parsed severity: the OpenTelemetry number and the text as the line spelled it. */
export interface LogSeverity {
  readonly severityNumber: SeverityNumber;
  readonly severityText: string;
}

const SEVERITY_BY_NAME: ReadonlyMap<string, SeverityNumber> = new Map([
  ['trace', SeverityNumber.TRACE],
  ['verbose', SeverityNumber.TRACE],
  ['debug', SeverityNumber.DEBUG],
  ['dbg', SeverityNumber.DEBUG],
  ['info', SeverityNumber.INFO],
  ['information', SeverityNumber.INFO],
  ['notice', SeverityNumber.INFO2],
  ['log', SeverityNumber.INFO],
  ['warn', SeverityNumber.WARN],
  ['warning', SeverityNumber.WARN],
  ['error', SeverityNumber.ERROR],
  ['err', SeverityNumber.ERROR],
  ['crit', SeverityNumber.FATAL],
  ['critical', SeverityNumber.FATAL],
  ['alert', SeverityNumber.FATAL2],
  ['emerg', SeverityNumber.FATAL3],
  ['fatal', SeverityNumber.FATAL],
  ['panic', SeverityNumber.FATAL],
]);

/** pino/bunyan numeric levels. */
const SEVERITY_BY_PINO_LEVEL: ReadonlyMap<number, SeverityNumber> = new Map([
  [10, SeverityNumber.TRACE],
  [20, SeverityNumber.DEBUG],
  [30, SeverityNumber.INFO],
  [40, SeverityNumber.WARN],
  [50, SeverityNumber.ERROR],
  [60, SeverityNumber.FATAL],
]);

/** syslog(3) priorities 0…7 as printed by systemd-aware programs (`<3>message`). */
const SEVERITY_BY_SYSLOG: readonly SeverityNumber[] = [
  SeverityNumber.FATAL3,
  SeverityNumber.FATAL2,
  SeverityNumber.FATAL,
  SeverityNumber.ERROR,
  SeverityNumber.WARN,
  SeverityNumber.INFO2,
  SeverityNumber.INFO,
  SeverityNumber.DEBUG,
];

const PREFIX_PATTERN = /^\s*(?:\[\s*([a-z]+)\s*\]|([a-z]+)(?::|\s)|<([0-7])>)/i;
const LOGFMT_PATTERN = /(?:^|\s)(?:level|lvl|severity)=("?)([a-z]+)\1(?:\s|$)/i;
/** Longest line parsed as JSON, in characters; longer lines are not worth the parse. */
const MAX_JSON_CHARS = 16 * 1024;

/** The severity `text` declares, or null when it follows none of the recognised formats. */
export function getLogSeverity(text: string): LogSeverity | null {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') && trimmed.length <= MAX_JSON_CHARS) {
    const fromJson = getJsonSeverity(trimmed);
    if (fromJson !== null) {
      return fromJson;
    }
  }
  const prefix = PREFIX_PATTERN.exec(text);
  if (prefix !== null) {
    if (prefix[3] !== undefined) {
      const severityNumber = SEVERITY_BY_SYSLOG[Number(prefix[3])];
      if (severityNumber !== undefined) {
        return { severityNumber, severityText: `<${prefix[3]}>` };
      }
    }
    const word = prefix[1] ?? prefix[2];
    const severityNumber = word === undefined ? undefined : SEVERITY_BY_NAME.get(word.toLowerCase());
    // A bare leading word counts only when upper-case ("ERROR disk full", not "error handling …").
    if (severityNumber !== undefined && word !== undefined && (prefix[1] !== undefined || word === word.toUpperCase())) {
      return { severityNumber, severityText: word };
    }
  }
  const logfmt = LOGFMT_PATTERN.exec(text);
  if (logfmt !== null) {
    const word = logfmt[2] as string;
    const severityNumber = SEVERITY_BY_NAME.get(word.toLowerCase());
    if (severityNumber !== undefined) {
      return { severityNumber, severityText: word };
    }
  }
  return null;
}

function getJsonSeverity(text: string): LogSeverity | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON after all: the other formats get their turn.
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) {
    return null;
  }
  const record = parsed as Record<string, unknown>;
  const level = record['level'] ?? record['severity'] ?? record['lvl'] ?? record['log.level'];
  if (typeof level === 'number') {
    const severityNumber = SEVERITY_BY_PINO_LEVEL.get(level);
    return severityNumber === undefined ? null : { severityNumber, severityText: String(level) };
  }
  if (typeof level === 'string') {
    const severityNumber = SEVERITY_BY_NAME.get(level.toLowerCase());
    return severityNumber === undefined ? null : { severityNumber, severityText: level };
  }
  return null;
}
