/**
 * `{{…}}` templates in drover.yaml strings (command, env, cwd, readiness and liveness). One parser
 * serves validation (every reference must name something that exists) and the manager (which fills
 * them in once ports are allocated).
 *
 * Names: `{{name}}` (node name), `{{replica}}` (replica index, from 0), `{{ports.<port>}}` (this
 * replica's port), `{{nodes.<node>.ports.<port>}}` (replica 0 of another node). Whitespace inside
 * the braces is ignored. There is no escape: a literal `{{` is not expected in argv or URLs.
 */

import { RE2JS } from 're2js';

/** One `{{…}}` occurrence. */
export type TemplateReference =
  | { readonly kind: 'name' }
  | { readonly kind: 'replica' }
  | { readonly kind: 'port'; readonly port: string }
  | { readonly kind: 'peer-port'; readonly node: string; readonly port: string }
  | { readonly kind: 'unknown'; readonly text: string };

/** Values a template is filled in from. */
export interface TemplateContext {
  readonly name: string;
  readonly replica: number;
  readonly ports: Readonly<Record<string, number>>;
  /** Ports of replica 0 of another node, or undefined for an unknown node (or one not allocated yet). */
  readonly peerPorts: (node: string) => Readonly<Record<string, number>> | undefined;
}

/** Finds `{{…}}`; linear in V8 (no nested quantifier, `{` ends every attempt). */
const TEMPLATE_PATTERN = /\{\{([^{}]*)\}\}/g;
const PART = '([a-zA-Z0-9][a-zA-Z0-9_.-]*?)';
/**
 * Names may hold dots, so `nodes.<node>.ports.<port>` is split at the first `.ports.` that leaves
 * a valid port. On RE2: a backtracking engine tries every `.ports.` in the text (quadratic: a
 * 256 KB template took seconds).
 */
const PORT_PATTERN = RE2JS.compile(`^ports\\.${PART}$`);
const PEER_PORT_PATTERN = RE2JS.compile(`^nodes\\.${PART}\\.ports\\.${PART}$`);

function parseReference(inner: string): TemplateReference {
  const text = inner.trim();
  if (text === 'name') return { kind: 'name' };
  if (text === 'replica') return { kind: 'replica' };
  const peer = PEER_PORT_PATTERN.exec(text);
  if (peer) return { kind: 'peer-port', node: String(peer[1]), port: String(peer[2]) };
  const port = PORT_PATTERN.exec(text);
  if (port) return { kind: 'port', port: String(port[1]) };
  return { kind: 'unknown', text };
}

/** Every `{{…}}` reference in `text`, in order. */
export function getTemplateReferences(text: string): TemplateReference[] {
  return [...text.matchAll(TEMPLATE_PATTERN)].map((match) => parseReference(match[1]!));
}

/** Whether `text` holds any `{{…}}`. */
export function hasTemplate(text: string): boolean {
  TEMPLATE_PATTERN.lastIndex = 0;
  return TEMPLATE_PATTERN.test(text);
}

/**
 * Fills in every `{{…}}` of `text`. A reference that cannot be filled (a port not allocated yet)
 * is left as written, so a resolved config shows what is still missing.
 */
export function renderTemplate(text: string, context: TemplateContext): string {
  return text.replace(TEMPLATE_PATTERN, (whole, inner: string) => {
    const reference = parseReference(inner);
    switch (reference.kind) {
      case 'name':
        return context.name;
      case 'replica':
        return String(context.replica);
      case 'port': {
        const port = context.ports[reference.port];
        return port === undefined ? whole : String(port);
      }
      case 'peer-port': {
        const port = context.peerPorts(reference.node)?.[reference.port];
        return port === undefined ? whole : String(port);
      }
      case 'unknown':
        return whole;
    }
  });
}

/** `http` → `DROVER_PORT_HTTP`, `admin-ui` → `DROVER_PORT_ADMIN_UI`. */
export function getPortEnvName(port: string): string {
  return `DROVER_PORT_${port.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}
