/**
 * Fills a node spec's `{{…}}` templates for one replica (config/template.ts names them) and builds
 * the environment drover adds to every child.
 */
import { getPortEnvName, renderTemplate, type TemplateContext } from '../contract/template.js';
import type { LivenessSpec, NodeSpec, ReadySpec } from '../contract/types.js';

/** Templates filled in: command, env values, cwd, readiness and liveness strings, stop.command. */
export function resolveNodeSpec(spec: NodeSpec, context: TemplateContext): NodeSpec {
  const render = (text: string) => renderTemplate(text, context);
  return {
    ...spec,
    command: spec.command.map(render),
    cwd: render(spec.cwd),
    env: Object.fromEntries(Object.entries(spec.env).map(([key, value]) => [key, render(value)])),
    ready: spec.ready === null ? null : resolveReadySpec(spec.ready, render),
    liveness: spec.liveness === null ? null : resolveLivenessSpec(spec.liveness, render),
    stop: spec.stop.command === undefined ? spec.stop : { ...spec.stop, command: spec.stop.command.map(render) },
  };
}

function resolveLivenessSpec(spec: LivenessSpec, render: (text: string) => string): LivenessSpec {
  return { ...spec, check: resolveReadySpec(spec.check, render) };
}

function resolveReadySpec(spec: ReadySpec, render: (text: string) => string): ReadySpec {
  switch (spec.kind) {
    case 'log':
    case 'exit':
      return spec;
    case 'tcp': {
      const port = typeof spec.port === 'string' ? render(spec.port) : spec.port;
      return { ...spec, host: render(spec.host), port: typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port };
    }
    case 'http':
      return {
        ...spec,
        url: render(spec.url),
        headers: Object.fromEntries(Object.entries(spec.headers).map(([key, value]) => [key, render(value)])),
      };
    case 'exec':
      return { ...spec, command: spec.command.map(render) };
    case 'all':
    case 'any':
      return { ...spec, checks: spec.checks.map((check) => resolveReadySpec(check, render)) };
  }
}

/** DROVER_NODE, DROVER_REPLICA, DROVER_CLUSTER and one DROVER_PORT_<NAME> per allocated port. */
export function getDroverEnv(clusterName: string, name: string, replica: number, ports: Readonly<Record<string, number>>): Record<string, string> {
  const env: Record<string, string> = { DROVER_NODE: name, DROVER_REPLICA: String(replica), DROVER_CLUSTER: clusterName };
  for (const [port, value] of Object.entries(ports)) env[getPortEnvName(port)] = String(value);
  return env;
}
