import { describe, expect, it, vi } from 'vitest';
import { OncePerKindDiagLogger } from '../../telemetry/diag-logger.js';

/** What core's globalErrorHandler passes to diag.error: a JSON-stringified error. */
function stringifyError(message: string, code: string): string {
  const error = Object.assign(new Error(message), { code });
  return JSON.stringify({ name: error.name, message: error.message, code, stack: error.stack });
}

describe('OncePerKindDiagLogger', () => {
  it('reports the same error once, even when numbers in it change', () => {
    const log = vi.fn();
    const logger = new OncePerKindDiagLogger(log);
    logger.error(stringifyError('connect ECONNREFUSED 127.0.0.1:4318', 'ECONNREFUSED'));
    logger.error(stringifyError('connect ECONNREFUSED 127.0.0.1:4318', 'ECONNREFUSED'));
    logger.error(stringifyError('connect ECONNREFUSED 127.0.0.1:4319', 'ECONNREFUSED'));
    expect(log.mock.calls).toEqual([
      ['drover telemetry error: connect ECONNREFUSED 127.0.0.1:4318 (reported once)'],
    ]);
  });

  it('reports different kinds separately', () => {
    const log = vi.fn();
    const logger = new OncePerKindDiagLogger(log);
    logger.error('PeriodicExportingMetricReader: metrics export failed', new Error('timeout'));
    logger.error('Request Timeout', Object.assign(new Error('x'), { code: 'ETIMEDOUT' }));
    logger.warn('PeriodicExportingMetricReader: metrics export failed');
    logger.error('PeriodicExportingMetricReader: metrics export failed', new Error('timeout'));
    expect(log.mock.calls.map(([line]) => line)).toEqual([
      'drover telemetry error: PeriodicExportingMetricReader: metrics export failed timeout (reported once)',
      'drover telemetry error: Request Timeout x (reported once)',
      'drover telemetry warn: PeriodicExportingMetricReader: metrics export failed (reported once)',
    ]);
  });

  it('passes debug output through and never throws from a failing sink', () => {
    const logger = new OncePerKindDiagLogger(() => {
      throw new Error('stderr closed');
    });
    expect(() => logger.debug('hello', { a: 1 })).not.toThrow();
    const log = vi.fn();
    new OncePerKindDiagLogger(log).debug('hello', { a: 1 });
    new OncePerKindDiagLogger(log).debug('hello', { a: 1 });
    expect(log.mock.calls).toEqual([['drover telemetry debug: hello {"a":1}'], ['drover telemetry debug: hello {"a":1}']]);
  });
});
