'use strict';
// A small Node server of "your own", to show `harness run app --app FILE`: the harness
// runs it unchanged in the single, cluster, nginx and pm2 modes.
//
// What the harness needs from an app: it listens on the port in PORT (on HOST, which the
// harness sets to 127.0.0.1). Nothing more: the harness's preload (server/preload.js) tags
// every response with x-pid (and x-worker-id where the app sends none). This app sends its
// own `x-worker-id` from HARNESS_WORKER_ID, which the harness sets in every mode (under
// PM2 the preload sets it from NODE_APP_INSTANCE; with --no-preload PM2's NODE_APP_INSTANCE
// is all there is, hence the fallback).
const http = require('node:http');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const workerId = process.env.HARNESS_WORKER_ID
  || (process.env.NODE_APP_INSTANCE !== undefined ? String(Number(process.env.NODE_APP_INSTANCE) + 1) : '');

// About a millisecond of CPU per request, so that more processes have something to share.
function work(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  return x;
}

const server = http.createServer((req, res) => {
  const headers = { 'content-type': 'text/plain' };
  if (workerId) headers['x-worker-id'] = workerId;
  res.writeHead(200, headers);
  res.end(`hello ${work(300000)}\n`);
});
server.keepAliveTimeout = 65000;
server.listen(port, host);

function stop() {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop); // PM2 stops its instances with SIGINT
