/**
 * The peer name of connections that come from no node (a test's client, a browser): a module of
 * its own so that the cluster can name it without loading the relay.
 */
export const EXTERNAL_PEER = 'external';
