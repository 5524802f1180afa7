// In-memory key-value store: PUT /kv/:key stores the body, GET /kv/:key returns it, /health says ok.
import http from 'node:http';

const values = new Map();
const server = http.createServer(async (req, res) => {
  if (req.url === '/health') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  const key = req.url?.startsWith('/kv/') ? decodeURIComponent(req.url.slice(4)) : null;
  if (key === null) return res.writeHead(404).end();
  if (req.method === 'PUT') {
    let body = '';
    for await (const chunk of req) body += chunk;
    values.set(key, body);
    return res.writeHead(204).end();
  }
  return values.has(key) ? res.writeHead(200).end(values.get(key)) : res.writeHead(404).end();
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`store listening on ${process.env.PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
