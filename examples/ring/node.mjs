#!/usr/bin/env node
// One node of the example ring: an HTTP server with /health that pings its two peers every second
// and logs what it saw. Port and peers come from the environment drover.yaml sets.
import http from 'node:http';

const name = process.env.DROVER_NODE ?? 'node';
const port = Number(process.env.PORT);
const peers = (process.env.PEERS ?? '').split(',').filter(Boolean);

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node: name, pid: process.pid }));
    return;
  }
  res.writeHead(404).end();
});

async function ping(peer) {
  const started = performance.now();
  try {
    const res = await fetch(`http://${peer}/health`, { signal: AbortSignal.timeout(500) });
    const body = await res.json();
    return `${body.node} ok ${(performance.now() - started).toFixed(1)}ms`;
  } catch (error) {
    return `${peer} down (${error.cause?.code ?? error.name})`;
  }
}

server.listen(port, '127.0.0.1', () => {
  console.log(`${name} listening on 127.0.0.1:${port}`);
  setInterval(async () => {
    const results = await Promise.all(peers.map(ping));
    console.log(`${name} ping: ${results.join(', ')}`);
  }, 1000);
});

process.on('SIGTERM', () => {
  console.log(`${name} got SIGTERM, closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
