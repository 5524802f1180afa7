// Starts the cluster once for the whole run and stops it afterwards (vitest globalSetup).
import { fileURLToPath } from 'node:url';
import { setupCluster } from 'drover/vitest';

export default setupCluster(fileURLToPath(new URL('./drover.yaml', import.meta.url)), { strict: true });
