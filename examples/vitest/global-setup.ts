// Starts the cluster once for the whole run and stops it afterwards (vitest globalSetup). The path
// is relative to this vitest project's root (examples/vitest), wherever vitest was started from.
import { setupCluster } from 'drover/vitest';

export default setupCluster('./drover.yaml', { strict: true });
