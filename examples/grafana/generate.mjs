#!/usr/bin/env node
// Writes examples/grafana/drover.json from telemetry/grafana-dashboard.ts (build first:
// `npm run build:ts`). test/telemetry/grafana-dashboard.test.ts fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createGrafanaDashboard } from '../../dist/telemetry/grafana-dashboard.js';

const target = fileURLToPath(new URL('./drover.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(createGrafanaDashboard(), null, 2)}\n`);
console.log(`wrote ${target}`);
