// Counts hits: POST /hit adds one and answers the new count; /health says ok.
import http from 'node:http';

let hits = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/health') return res.writeHead(200).end('ok');
  if (req.url === '/hit' && req.method === 'POST') return res.writeHead(200).end(String(++hits));
  return res.writeHead(404).end();
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`counter listening on ${process.env.PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
