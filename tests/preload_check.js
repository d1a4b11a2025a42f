'use strict';
// Run by tests/test_preload.py twice, with `node --require server/preload.js` and without,
// to show that the preload changes nothing an app does but add x-pid (and x-worker-id where
// the app sets none): servers that answer in the ways apps do (writeHead with an object,
// with a flat array holding a header twice, with [name, value] pairs, setHeader alone, their
// own x-pid / x-worker-id, flushed headers, an empty 204, headers Node refuses, a writeHead
// after the headers were sent), an app that hands a request to another server by calling
// server.emit('request') itself, an https server (when TLS_KEY and TLS_CERT name files) and
// an HTTP/2 server. Prints one JSON document: every response as the client saw it.
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const http2 = require('node:http2');

const routes = {
  plain: (req, res) => res.end('plain'),
  object: (req, res) => {
    res.writeHead(201, { 'content-type': 'text/plain', 'x-app': 'a' });
    res.end('object');
  },
  array: (req, res) => {
    res.writeHead(200, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-app', 'array']);
    res.end('array');
  },
  nested: (req, res) => {
    res.writeHead(200, [['x-app', 'n1'], ['x-app', 'n2']]);
    res.end('nested');
  },
  progressive: (req, res) => {
    res.setHeader('x-app', 'p');
    res.setHeader('set-cookie', ['c=1', 'd=2']);
    res.end('progressive');
  },
  odd: (req, res) => { // headers Node refuses: the same error, then the app goes on
    let code = 'none';
    try {
      res.writeHead(200, ['x-app']);
    } catch (err) {
      code = err.code;
    }
    res.end(code);
  },
  twice: (req, res) => { // a writeHead after the headers were sent: the same error
    res.writeHead(200, { 'x-app': 't' });
    let code = 'none';
    try {
      res.writeHead(500);
    } catch (err) {
      code = err.code;
    }
    res.end(code);
  },
  own: (req, res) => {
    res.setHeader('x-worker-id', 'mine');
    res.writeHead(200, { 'x-pid': 'app-pid' });
    res.end('own');
  },
  flushed: (req, res) => {
    res.flushHeaders();
    res.end('flushed');
  },
  empty: (req, res) => {
    res.statusCode = 204;
    res.end();
  },
};
const handle = (req, res) => (routes[req.url.slice(1)] || routes.plain)(req, res);
const SKIP = new Set(['date', 'connection', 'keep-alive']);

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

function get(mod, port, path, headers = {}, extra = {}) {
  return new Promise((resolve, reject) => {
    const req = mod.request({ host: '127.0.0.1', port, path, headers, agent: false, ...extra }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => {
        const pairs = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i].toLowerCase();
          if (!SKIP.has(name)) pairs.push([name, res.rawHeaders[i + 1]]);
        }
        resolve({ status: res.statusCode, headers: pairs, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function getH2(port) {
  return new Promise((resolve, reject) => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', reject);
    const req = client.request({ ':path': '/' });
    let status;
    const pairs = [];
    req.on('response', (headers) => {
      status = headers[':status'];
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') && !SKIP.has(k)) pairs.push([k, String(v)]);
    });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      client.close();
      resolve({ status, headers: pairs.sort(), body });
    });
    req.end();
  });
}

async function main() {
  const out = { pid: process.pid, responses: {} };
  const server = http.createServer(handle);
  const port = await listen(server);
  for (const name of Object.keys(routes)) out.responses[name] = await get(http, port, `/${name}`);
  out.responses.probe = await get(http, port, '/plain', { 'x-harness-probe': '1' });

  // an app that hands its requests to another server object itself (never listening)
  const inner = http.createServer(routes.object);
  const outer = http.createServer((req, res) => inner.emit('request', req, res));
  out.responses.reemit = await get(http, await listen(outer), '/');

  if (process.env.TLS_KEY && process.env.TLS_CERT) {
    const tls = https.createServer({ key: fs.readFileSync(process.env.TLS_KEY), cert: fs.readFileSync(process.env.TLS_CERT) },
      routes.object);
    out.responses.https = await get(https, await listen(tls), '/', {}, { rejectUnauthorized: false });
    tls.close();
  }

  const h2 = http2.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('h2');
  });
  out.responses.http2 = await getH2(await listen(h2));

  for (const s of [server, outer, h2]) s.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  process.stderr.write(`preload_check: ${err && err.stack}\n`);
  process.exit(1);
});
