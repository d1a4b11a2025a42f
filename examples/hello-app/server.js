'use strict';
// A small Node server of "your own", to show `harness run app --app FILE`: the harness
// runs it unchanged in the single, cluster, nginx and pm2 modes.
//
// What the harness needs from an app: it listens on the port in PORT (on HOST, which the
// harness sets to 127.0.0.1). The harness's preload (server/preload.js) tags every response
// with x-pid (and x-worker-id where the app sends none). This app sends its own `x-worker-id`
// from HARNESS_WORKER_ID, which the harness sets in every mode (under PM2 the preload sets it
// from NODE_APP_INSTANCE; with --no-preload PM2's NODE_APP_INSTANCE is all there is, hence
// the fallback), and `x-pid` itself, so it reports the same without the preload.
//
// Routes: POST /echo takes a JSON body and answers with what it read (for a locustfile's
// POST task, examples/hello-app/locustfile.py); GET /counts answers this process's own
// request counts; anything else answers "hello". Each process counts the requests it
// served, by method and path; with HELLO_COUNTS_DIR set it writes them to
// HELLO_COUNTS_DIR/counts-<pid>.json when it stops (SIGTERM or SIGINT), so that a test can
// check the harness's per-worker counts against the app's own.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const workerId = process.env.HARNESS_WORKER_ID
  || (process.env.NODE_APP_INSTANCE !== undefined ? String(Number(process.env.NODE_APP_INSTANCE) + 1) : '');
const counts = {}; // "METHOD /path" -> requests this process served

// About a millisecond of CPU per request, so that more processes have something to share.
function work(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  return x;
}

function ownCounts() {
  return { pid: process.pid, worker_id: workerId, counts };
}

const server = http.createServer((req, res) => {
  const route = req.url.split('?')[0];
  const key = `${req.method} ${route}`;
  counts[key] = (counts[key] || 0) + 1;
  const headers = { 'content-type': 'text/plain', 'x-pid': String(process.pid) };
  if (workerId) headers['x-worker-id'] = workerId;
  if (req.method === 'POST' && route === '/echo') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, headers);
        res.end('the body is not JSON\n');
        return;
      }
      work(300000);
      res.writeHead(200, { ...headers, 'content-type': 'application/json' });
      res.end(JSON.stringify({ received: body }));
    });
    return;
  }
  if (route === '/counts') {
    res.writeHead(200, { ...headers, 'content-type': 'application/json' });
    res.end(JSON.stringify(ownCounts()));
    return;
  }
  res.writeHead(200, headers);
  res.end(`hello ${work(300000)}\n`);
});
server.keepAliveTimeout = 65000;
server.listen(port, host);

function stop() {
  if (process.env.HELLO_COUNTS_DIR) {
    // written at once, synchronously: by the time a server is stopped its load is over
    const file = path.join(process.env.HELLO_COUNTS_DIR, `counts-${process.pid}.json`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(ownCounts()));
    fs.renameSync(`${file}.tmp`, file);
  }
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop); // PM2 stops its instances with SIGINT
