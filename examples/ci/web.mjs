// The front: GET / counts the visit at the counter and answers "visit <n>"; /health says ok.
import http from 'node:http';

const counter = process.env.COUNTER_URL;
const server = http.createServer(async (req, res) => {
  if (req.url === '/health') return res.writeHead(200).end('ok');
  if (req.url !== '/') return res.writeHead(404).end();
  const hit = await fetch(`${counter}/hit`, { method: 'POST' });
  console.log(`visit ${await hit.clone().text()}`);
  return res.writeHead(hit.ok ? 200 : 502).end(`visit ${await hit.text()}`);
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`web listening on ${process.env.PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
