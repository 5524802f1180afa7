/**
 * A tiny OTLP/HTTP JSON receiver for end-to-end tests: accepts POST /v1/traces, /v1/metrics and
 * /v1/logs (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) on 127.0.0.1 and keeps what arrived, flattened.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type OtlpValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: OtlpValue[] } };
type OtlpAttribute = { key: string; value: OtlpValue };

export interface ReceivedSpan {
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly attributes: Record<string, unknown>;
  readonly statusCode: number;
  readonly resource: Record<string, unknown>;
}

export interface ReceivedPoint {
  readonly metric: string;
  readonly unit: string;
  readonly attributes: Record<string, unknown>;
  readonly value: number;
}

export interface ReceivedLog {
  readonly body: unknown;
  readonly eventName: string | undefined;
  readonly severityNumber: number | undefined;
  readonly traceId: string | undefined;
  readonly spanId: string | undefined;
  readonly attributes: Record<string, unknown>;
}

function getValue(value: OtlpValue | undefined): unknown {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(getValue);
  return undefined;
}

function getAttributes(attributes: OtlpAttribute[] | undefined): Record<string, unknown> {
  return Object.fromEntries((attributes ?? []).map((attribute) => [attribute.key, getValue(attribute.value)]));
}

/* eslint-disable @typescript-eslint/no-explicit-any -- OTLP JSON is walked structurally */
/** An HTTP server on a free loopback port (`listen()` gives its base URL); subclasses answer requests. */
abstract class LoopbackServer {
  private readonly server: Server = createServer((request, response) => this.handleRequest(request, response));

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  protected abstract handleRequest(request: IncomingMessage, response: ServerResponse): void;
}

/** An OTLP endpoint that accepts every export request and never answers it: a flush that cannot finish. */
export class HangingOtlpReceiver extends LoopbackServer {
  readonly requests: string[] = [];

  protected handleRequest(request: IncomingMessage): void {
    this.requests.push(`${request.method} ${request.url}`);
    request.resume();
  }
}

export class OtlpReceiver extends LoopbackServer {
  readonly spans: ReceivedSpan[] = [];
  readonly points: ReceivedPoint[] = [];
  readonly logs: ReceivedLog[] = [];
  readonly requests: string[] = [];

  protected handleRequest(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.requests.push(`${request.method} ${request.url} ${request.headers['content-type']}`);
      try {
        this.handle(request.url ?? '', JSON.parse(Buffer.concat(chunks).toString('utf8')));
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (error) {
        response.writeHead(400).end(String(error));
      }
    });
  }

  private handle(url: string, body: any): void {
    if (url === '/v1/traces') {
      for (const resourceSpans of body.resourceSpans ?? []) {
        const resource = getAttributes(resourceSpans.resource?.attributes);
        for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
          for (const span of scopeSpans.spans ?? []) {
            this.spans.push({ name: span.name, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? '', attributes: getAttributes(span.attributes), statusCode: span.status?.code ?? 0, resource });
          }
        }
      }
    } else if (url === '/v1/metrics') {
      for (const resourceMetrics of body.resourceMetrics ?? []) {
        for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
          for (const metric of scopeMetrics.metrics ?? []) {
            const data = metric.sum ?? metric.gauge ?? metric.histogram;
            for (const point of data?.dataPoints ?? []) {
              const value = point.asDouble ?? (point.asInt !== undefined ? Number(point.asInt) : Number(point.count));
              this.points.push({ metric: metric.name, unit: metric.unit ?? '', attributes: getAttributes(point.attributes), value });
            }
          }
        }
      }
    } else if (url === '/v1/logs') {
      for (const resourceLogs of body.resourceLogs ?? []) {
        for (const scopeLogs of resourceLogs.scopeLogs ?? []) {
          for (const record of scopeLogs.logRecords ?? []) {
            this.logs.push({ body: getValue(record.body), eventName: record.eventName, severityNumber: record.severityNumber, traceId: record.traceId, spanId: record.spanId, attributes: getAttributes(record.attributes) });
          }
        }
      }
    } else {
      throw new Error(`unexpected path ${url}`);
    }
  }
}
