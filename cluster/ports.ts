/**
 * Free TCP ports for nodes, from get-port (which checks every local interface and locks a port it
 * handed out inside this process, so replicas and clusters started in parallel by one manager never
 * get the same port).
 */
import getPort from 'get-port';

/**
 * One free port per name.
 * @param exclude ports not to hand out (e.g. ones that just failed with EADDRINUSE).
 */
export async function allocatePorts(names: readonly string[], exclude: readonly number[] = []): Promise<Record<string, number>> {
  const ports: Record<string, number> = {};
  for (const name of names) ports[name] = await getPort({ exclude: [...exclude, ...Object.values(ports)] });
  return ports;
}

/** Whether an output line says a bind failed because the address was taken. */
export function isAddressInUseLine(text: string): boolean {
  return /EADDRINUSE|address already in use/i.test(text);
}
