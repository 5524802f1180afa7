/**
 * `{{…}}` templates in drover.yaml strings (command, env, cwd, readiness and liveness). One parser
 * serves validation (every reference must name something that exists) and the manager (which fills
 * them in once ports are allocated).
 *
 * Names: `{{name}}` (node name), `{{replica}}` (replica index, from 0), `{{ports.<port>}}` (this
 * replica's port), `{{nodes.<node>.ports.<port>}}` (replica 0 of another node). Whitespace inside
 * the braces is ignored. There is no escape: a literal `{{` is not expected in argv or URLs.
 */

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
/** A character of a node or port name (the first one must be a letter or digit). */
const NAME_CHAR = /[a-zA-Z0-9_.-]/;
const NAME_START = /[a-zA-Z0-9]/;
const PORTS_INFIX = '.ports.';

/** Whether `text` is a node or port name: a letter or digit, then letters, digits, `_`, `.`, `-`. */
function isName(text: string): boolean {
  if (text === '' || !NAME_START.test(text[0]!)) return false;
  for (const char of text) if (!NAME_CHAR.test(char)) return false;
  return true;
}

/**
 * Splits `<node>.ports.<port>` (the text after `nodes.`). Names may hold dots, so the split is at
 * the first `.ports.` that leaves a valid node name before it and a valid port name after it.
 * Linear in the text: where the first and last characters that no name may hold are bounds every
 * candidate split is checked against in constant time (trying each `.ports.` with a pattern would
 * be quadratic: a 256 KB template took seconds with a backtracking engine).
 */
function splitPeerPort(rest: string): { node: string; port: string } | null {
  let firstBad = rest.length;
  let lastBad = -1;
  for (let i = 0; i < rest.length; i++) {
    if (NAME_CHAR.test(rest[i]!)) continue;
    if (firstBad === rest.length) firstBad = i;
    lastBad = i;
  }
  if (rest === '' || !NAME_START.test(rest[0]!)) return null;
  for (let at = rest.indexOf(PORTS_INFIX, 1); at !== -1 && at <= firstBad; at = rest.indexOf(PORTS_INFIX, at + 1)) {
    const portAt = at + PORTS_INFIX.length;
    if (portAt > lastBad && portAt < rest.length && NAME_START.test(rest[portAt]!)) return { node: rest.slice(0, at), port: rest.slice(portAt) };
  }
  return null;
}

function parseReference(inner: string): TemplateReference {
  const text = inner.trim();
  if (text === 'name') return { kind: 'name' };
  if (text === 'replica') return { kind: 'replica' };
  const peer = text.startsWith('nodes.') ? splitPeerPort(text.slice('nodes.'.length)) : null;
  if (peer) return { kind: 'peer-port', node: peer.node, port: peer.port };
  if (text.startsWith('ports.') && isName(text.slice('ports.'.length))) return { kind: 'port', port: text.slice('ports.'.length) };
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
