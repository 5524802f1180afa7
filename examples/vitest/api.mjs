// API in front of the store: POST /greetings/:name stores "hello <name>"; GET /greetings/:name reads it back.
import http from 'node:http';

const store = process.env.STORE_URL;
const server = http.createServer(async (req, res) => {
  const name = req.url?.startsWith('/greetings/') ? decodeURIComponent(req.url.slice(11)) : null;
  if (name === null) return res.writeHead(404).end();
  if (req.method === 'POST') {
    const put = await fetch(`${store}/kv/${encodeURIComponent(name)}`, { method: 'PUT', body: `hello ${name}` });
    return res.writeHead(put.ok ? 201 : 502).end();
  }
  const got = await fetch(`${store}/kv/${encodeURIComponent(name)}`);
  return res.writeHead(got.status).end(await got.text());
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`api listening on ${process.env.PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
