/**
 * An OpenTelemetry diag logger that reports each kind of problem once. Exporters retry on every
 * interval; an unreachable collector must not flood the terminal or the test output.
 */

import type { DiagLogger } from '@opentelemetry/api';

/** Distinct kinds remembered; past this, further messages are dropped after one notice. */
const MAX_KINDS = 256;
/** Longest message text written, in characters. */
const MAX_MESSAGE_CHARS = 500;

type Level = 'error' | 'warn' | 'info' | 'debug' | 'verbose';

/**
 * Writes `drover telemetry <level>: <message>` lines through `log`. `error` and `warn` messages are
 * written once per kind (the message with numbers, URLs' ports and ids blanked out, plus the
 * error's `code`/`name`); `info`, `debug` and `verbose` pass through, since they only arrive when
 * `OTEL_LOG_LEVEL` asks for them.
 */
export class OncePerKindDiagLogger implements DiagLogger {
  private readonly log: (message: string) => void;
  private readonly seenKinds = new Set<string>();
  private hasOverflowed = false;

  constructor(log: (message: string) => void) {
    this.log = log;
  }

  error(message: string, ...args: unknown[]): void {
    this.write('error', message, args, true);
  }

  warn(message: string, ...args: unknown[]): void {
    this.write('warn', message, args, true);
  }

  info(message: string, ...args: unknown[]): void {
    this.write('info', message, args, false);
  }

  debug(message: string, ...args: unknown[]): void {
    this.write('debug', message, args, false);
  }

  verbose(message: string, ...args: unknown[]): void {
    this.write('verbose', message, args, false);
  }

  private write(level: Level, message: unknown, args: unknown[], isOncePerKind: boolean): void {
    const text = [message, ...args].map(getText).filter((part) => part !== '').join(' ');
    if (isOncePerKind) {
      const kind = `${level}:${getKind(message, args)}`;
      if (this.seenKinds.has(kind)) {
        return;
      }
      if (this.seenKinds.size >= MAX_KINDS) {
        if (!this.hasOverflowed) {
          this.hasOverflowed = true;
          this.emit(`drover telemetry ${level}: too many distinct problems; not reporting further ones`);
        }
        return;
      }
      this.seenKinds.add(kind);
      this.emit(`drover telemetry ${level}: ${truncate(text)} (reported once)`);
      return;
    }
    this.emit(`drover telemetry ${level}: ${truncate(text)}`);
  }

  private emit(line: string): void {
    try {
      this.log(line);
    } catch {
      // Nowhere left to report a failing log sink; diagnostics must never throw into the SDK.
    }
  }
}

/** The readable part of a diag argument: Error messages, the `message` of a stringified error. */
function getText(value: unknown): string {
  if (value instanceof Error) {
    return value.message;
  }
  if (typeof value === 'string') {
    const parsed = parseJsonObject(value);
    if (parsed !== null && typeof parsed['message'] === 'string') {
      return parsed['message'];
    }
    return value;
  }
  if (value === undefined) {
    return '';
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // Circular structures and the like: the tag is still better than nothing.
    return Object.prototype.toString.call(value);
  }
}

/** A low-cardinality key for "the same problem again". */
function getKind(message: unknown, args: unknown[]): string {
  const codes: string[] = [];
  for (const value of [message, ...args]) {
    const fields = value instanceof Error ? (value as Error & { code?: unknown }) : typeof value === 'string' ? parseJsonObject(value) : null;
    if (fields !== null && fields !== undefined) {
      const code = fields.code ?? fields.name;
      if (typeof code === 'string' || typeof code === 'number') {
        codes.push(String(code));
      }
    }
  }
  const firstLine = getText(message).split('\n', 1)[0] ?? '';
  const shape = firstLine.replace(/[0-9a-f]{8,}/gi, '#').replace(/\d+/g, '#').slice(0, 200);
  return `${shape}|${codes.join(',')}`;
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  if (!text.startsWith('{')) {
    return null;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : null;
  } catch {
    // Not JSON after all (a message that merely starts with a brace): treat it as plain text.
    return null;
  }
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}
