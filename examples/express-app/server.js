'use strict';
// An Express app as its documentation writes one, to show `harness run app --app FILE` on a
// server the harness knows nothing about: it sends no x-worker-id, no x-pid, serves no
// /metrics. The harness's preload (server/preload.js, `node --require`) gives it requests
// per process, event-loop delay and CPU in the single, cluster, nginx and pm2 modes anyway.
//
//   npm ci                                    # once, in this folder (make setup does it)
//   harness run app --app examples/express-app/server.js --quick
//
// All it asks of an app: listen on the port in PORT (and on HOST, which the harness sets to
// 127.0.0.1).
const express = require('express');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';

// About a millisecond of CPU per request, so that more processes have something to share.
function work(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  return x;
}

const app = express();
app.get('/', (req, res) => {
  res.set('cache-control', 'no-store');
  res.send(`hello ${work(300000)}\n`);
});
app.get('/json', (req, res) => res.json({ hello: 'world', n: work(300000) }));

app.listen(port, host, () => console.log(`express app listening on ${host}:${port}`));
