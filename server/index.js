'use strict';
// Entry point of the reference server in every process mode.
//
//   node index.js --mode single  --port P [--host 127.0.0.1] [--worker-id ID]
//   node index.js --mode cluster --port P --workers N --schedule rr|none --admin-port A [--app FILE]
//   node index.js --mode pool    --port P --threads T [--queue-limit Q]
//   node index.js --mode spawn-per-request --port P [--max-live-threads M]
//   node index.js --mode pm2     --port P --state-dir D      (as a PM2 cluster-mode instance)
//   node index.js --mode reuseport --port P --worker-id ID --state-dir D   (one of N; Node 22.12+)
//
// single:  one process serves every request. --worker-id sets its x-worker-id (default
//          0); the harness gives each nginx backend its own.
// cluster: a primary forks N workers that share the port. With --schedule rr the primary
//          accepts connections and hands them out in turn; with none the kernel decides
//          which worker's accept() wins. The primary re-forks crashed workers (with a
//          back-off so a crash loop does not spin) and serves a small admin API on a
//          separate loopback port: /ready (all N workers listening) and /workers (every
//          worker's /metrics, gathered over IPC). With --app FILE each worker runs that
//          file instead (a user's own server, unchanged: it listens on the port in PORT,
//          which node:cluster shares), with HARNESS_WORKER_ID set to its id; on shutdown
//          such a worker gets SIGTERM (it has no drain message handler). With
//          HARNESS_PRELOAD=/abs/preload.js in the environment each such worker (never the
//          primary) runs with `--require` of it (the harness's per-process counts, preload.js).
// pool:    one process; /cpu runs on a piscina pool of exactly T worker threads, with at
//          most Q tasks waiting (none: no limit; past it a 503). Every other route runs on
//          the event loop as in single mode.
// spawn-per-request: one process; /cpu starts a new worker thread per request and
//          terminates it after the answer (the anti-pattern the pool avoids).
// pm2:     single mode run by PM2 in cluster mode (PM2's God daemon is the primary).
//          x-worker-id is NODE_APP_INSTANCE + 1 (1..N, as in cluster mode). Since every
//          instance shares the one port, each also listens on its own loopback port
//          (exclusive, picked by the OS) for /metrics and /healthz, and writes
//          {pid, worker_id, admin_port} to <state-dir>/<pid>.json once it serves.
// reuseport: one of N independent processes (no primary) that each listen on the same
//          port with SO_REUSEPORT (`server.listen({reusePort: true})`, Node 22.12 and
//          later): the kernel gives each new connection to one of them by a hash of its
//          addresses and ports. Like pm2, each also serves /metrics on an exclusive port
//          of its own and announces it in <state-dir>/<pid>.json.
// On SIGTERM or SIGINT every process stops accepting, drains in-flight requests and
// exits; after --shutdown-timeout-ms it force-exits.

const cluster = require('node:cluster');
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { createApp } = require('./app');

// The --mode values, and from which versions server.listen({reusePort}) exists (older ones
// ignore the option): facts the harness reads from the same file (harness/modes/).
const { node_modes: MODES, reuseport_since: REUSEPORT_SINCE } = require('./modes.json');
const REUSEPORT_LAST_LISTED = Math.max(...Object.keys(REUSEPORT_SINCE).map(Number));

function log(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), pid: process.pid, event, ...fields })}\n`);
}

function fail(message) {
  process.stderr.write(`server: ${message}\n`);
  process.exit(2);
}

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        mode: { type: 'string', default: 'single' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '3000' },
        workers: { type: 'string', default: '2' },
        schedule: { type: 'string', default: 'rr' },
        'admin-port': { type: 'string', default: '0' },
        'shutdown-timeout-ms': { type: 'string', default: '5000' },
        'worker-id': { type: 'string', default: '0' },
        threads: { type: 'string', default: '1' },
        'queue-limit': { type: 'string', default: 'none' },
        'max-live-threads': { type: 'string', default: '256' },
        'state-dir': { type: 'string', default: '' },
        app: { type: 'string', default: '' },
      },
      strict: true,
    }));
  } catch (err) {
    fail(err.message);
  }
  const int = (name, min, max) => {
    const raw = values[name];
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) fail(`--${name} must be a whole number from ${min} to ${max}, got ${raw}`);
    return Number(raw);
  };
  const opts = {
    mode: values.mode,
    host: values.host,
    port: int('port', 0, 65535),
    workers: int('workers', 1, 256),
    schedule: values.schedule,
    adminPort: int('admin-port', 0, 65535),
    shutdownTimeoutMs: int('shutdown-timeout-ms', 0, 600000),
    workerId: values['worker-id'],
    threads: int('threads', 1, 1024),
    queueLimit: values['queue-limit'] === 'none' ? null : int('queue-limit', 0, 1000000),
    maxLiveThreads: int('max-live-threads', 1, 100000),
    stateDir: values['state-dir'],
    app: values.app,
  };
  if (opts.app && opts.mode !== 'cluster') fail('--app is for --mode cluster (the harness runs an app directly in the other modes)');
  if (!MODES.includes(opts.mode)) fail(`unknown --mode ${opts.mode}; use one of ${MODES.join(', ')}`);
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(opts.workerId)) fail(`--worker-id must be 1 to 32 letters, digits, - or _, got ${JSON.stringify(opts.workerId)}`);
  if ((opts.mode === 'pm2' || opts.mode === 'reuseport') && !opts.stateDir) fail(`--mode ${opts.mode} needs --state-dir`);
  if (opts.mode === 'reuseport' && !supportsReusePort(process.versions.node)) {
    fail(`--mode reuseport needs Node.js 22.12 or newer (server.listen({reusePort: true})); this is ${process.version}`);
  }
  if (!['rr', 'none'].includes(opts.schedule)) fail(`unknown --schedule ${opts.schedule}; use rr or none`);
  return opts;
}

function supportsReusePort(version) {
  const v = version.split('.').map(Number);
  const since = REUSEPORT_SINCE[v[0]] || (v[0] > REUSEPORT_LAST_LISTED ? [v[0], 0, 0] : null);
  if (!since || process.platform !== 'linux') return false;
  for (let i = 0; i < 3; i++) if (v[i] !== since[i]) return v[i] > since[i];
  return true;
}

function createServer(handle) {
  const server = http.createServer(handle);
  server.keepAliveTimeout = 65000;
  // Bound slow clients (slowloris): headers must arrive within 10 s, a whole request within 30 s.
  server.headersTimeout = 10000;
  server.requestTimeout = 30000;
  return server;
}

/**
 * Serve the app in this process; drain and exit on shutdown.
 * extras.runner: where /cpu runs (offload.js); extras.stateDir: pm2 and reuseport modes'
 * per-instance admin listener and state file; extras.reusePort: listen with SO_REUSEPORT.
 */
function runWorker(opts, workerId, mode, extras = {}) {
  const runner = extras.runner;
  const app = createApp({ workerId, mode, cpu: runner && runner.run, extraMetrics: runner && runner.metrics,
    counter: extras.counter });
  const server = createServer(app.handle);
  // pm2: every instance shares the one port, so the harness reaches each one's /metrics
  // on its own port. `exclusive` keeps that listen out of the cluster primary's hands.
  const admin = extras.stateDir ? createServer(app.handle) : null;
  const stateFile = extras.stateDir ? path.join(extras.stateDir, `${process.pid}.json`) : null;
  let stopping = false;

  function shutdown(reason) {
    if (stopping) return;
    stopping = true;
    log('draining', { worker_id: workerId, reason, in_flight: app.inFlight });
    app.startDraining();
    if (stateFile) fs.rmSync(stateFile, { force: true });
    if (admin) {
      admin.close();
      admin.closeIdleConnections();
    }
    server.close(() => {
      log('drained', { worker_id: workerId });
      process.exit(0);
    });
    server.closeIdleConnections();
    const timer = setTimeout(() => {
      log('force-exit', { worker_id: workerId, in_flight: app.inFlight });
      server.closeAllConnections();
      process.exit(1);
    }, opts.shutdownTimeoutMs);
    timer.unref();
  }

  server.on('error', (err) => {
    process.stderr.write(`server: cannot listen on ${opts.host}:${opts.port}: ${err.message}\n`);
    process.exit(3);
  });
  function listen() {
    server.listen({ port: opts.port, host: opts.host, reusePort: Boolean(extras.reusePort) }, () => {
      log('listening', { worker_id: workerId, host: opts.host, port: server.address().port });
      if (stateFile) {
        const tmp = `${stateFile}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, worker_id: workerId, admin_port: admin.address().port }));
        fs.renameSync(tmp, stateFile);
      }
    });
  }
  if (admin) {
    admin.on('error', (err) => {
      process.stderr.write(`server: cannot listen on an admin port of ${opts.host}: ${err.message}\n`);
      process.exit(3);
    });
    admin.listen({ port: 0, host: opts.host, exclusive: true }, listen);
  } else {
    listen();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (cluster.isWorker) {
    process.on('message', (msg) => {
      if (msg && msg.type === 'shutdown') shutdown('primary');
      if (msg && msg.type === 'metrics') process.send({ type: 'metrics', reqId: msg.reqId, metrics: app.metrics() });
    });
  }
}

function runPrimary(opts) {
  cluster.schedulingPolicy = opts.schedule === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  const preload = process.env.HARNESS_PRELOAD;
  if (opts.app && preload) {
    if (!path.isAbsolute(preload) || !fs.existsSync(preload)) fail(`HARNESS_PRELOAD must be the absolute path of a file, got ${JSON.stringify(preload)}`);
    // the workers only: the primary serves the admin API, which is no part of the app
    cluster.setupPrimary({ execArgv: [...process.execArgv, '--require', preload] });
  }
  const listening = new Set();
  const crashTimes = [];
  let stopping = false;
  let forcedWorkers = 0;
  let nextReqId = 1;
  const pending = new Map();

  function fork() {
    const worker = cluster.fork();
    worker.startedAt = Date.now();
    // A message to a worker that has just exited (its IPC channel not yet seen closed) fails
    // with EPIPE, emitted as 'error' on the Worker: unhandled, it ended the primary, and a
    // worker whose primary is gone exits at once (node:cluster), dropping its requests in
    // flight. Seen at shutdown: an idle worker drained and exited before the primary's own
    // SIGTERM handler sent it the shutdown message. The 'exit' event still follows.
    worker.on('error', (err) => {
      log('worker-ipc-error', { worker_id: worker.id, worker_pid: worker.process.pid, error: err.code || String(err) });
    });
    worker.on('message', (msg) => {
      if (msg && msg.type === 'metrics' && pending.has(msg.reqId)) pending.get(msg.reqId)(msg.metrics);
    });
    return worker;
  }

  // Back-off for crash loops: a worker that dies within 2 s of its start counts as a
  // fast crash; each fast crash in the last 30 s doubles the delay (up to 10 s).
  function refork(worker) {
    const lived = Date.now() - worker.startedAt;
    const now = Date.now();
    if (lived < 2000) crashTimes.push(now);
    while (crashTimes.length && now - crashTimes[0] > 30000) crashTimes.shift();
    const delay = crashTimes.length ? Math.min(10000, 100 * 2 ** (crashTimes.length - 1)) : 0;
    log('refork', { after_worker_id: worker.id, lived_ms: lived, delay_ms: delay });
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  }

  cluster.on('listening', (worker) => {
    listening.add(worker.id);
    log('worker-listening', { worker_id: worker.id, worker_pid: worker.process.pid, listening: listening.size, expected: opts.workers });
  });
  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    log('worker-exit', { worker_id: worker.id, worker_pid: worker.process.pid, code, signal });
    if (!stopping) {
      refork(worker);
      return;
    }
    // an app's worker stopped by our SIGTERM without a handler of its own ends by the signal: not forced
    if (code !== 0 && !(opts.app && signal === 'SIGTERM')) forcedWorkers += 1;
    process.exitCode = forcedWorkers ? 1 : 0; // also when the primary ends because nothing is left to do
    // The exited worker may still be listed (Node removes it after both 'exit' and
    // 'disconnect', in either order): count only the others that are not dead. Checking
    // cluster.workers alone missed the last exit now and then, and the primary then ended
    // with code 0 after a forced drain.
    const left = Object.values(cluster.workers).filter((w) => w !== worker && !w.isDead());
    if (left.length === 0) {
      // Exit 1 when any worker had to force-exit: the drain did not finish in time.
      log('stopped', { forced_workers: forcedWorkers });
      process.exit(forcedWorkers ? 1 : 0);
    }
  });

  function gatherMetrics(timeoutMs) {
    const workers = Object.values(cluster.workers).filter((w) => w.isConnected());
    return Promise.all(workers.map((w) => new Promise((resolve) => {
      const reqId = nextReqId++;
      const timer = setTimeout(() => {
        pending.delete(reqId);
        resolve({ worker_id: String(w.id), pid: w.process.pid, error: 'no answer' });
      }, timeoutMs);
      pending.set(reqId, (m) => {
        clearTimeout(timer);
        pending.delete(reqId);
        resolve(m);
      });
      w.send({ type: 'metrics', reqId });
    })));
  }

  const admin = http.createServer(async (req, res) => {
    const ready = !stopping && listening.size === opts.workers;
    let status = 200;
    let body;
    if (req.url === '/ready') {
      status = ready ? 200 : 503;
      body = { ready, listening: listening.size, expected: opts.workers };
    } else if (req.url === '/workers') {
      body = { primary_pid: process.pid, schedule: opts.schedule, ready, workers: await gatherMetrics(2000) };
    } else {
      status = 404;
      body = { error: 'admin routes: /ready, /workers' };
    }
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  admin.on('error', (err) => {
    process.stderr.write(`server: cannot listen on admin port ${opts.host}:${opts.adminPort}: ${err.message}\n`);
    process.exit(3);
  });

  function shutdown(reason) {
    if (stopping) return;
    stopping = true;
    log('shutdown', { reason, workers: Object.keys(cluster.workers).length });
    admin.close();
    const workers = Object.values(cluster.workers);
    if (workers.length === 0) process.exit(0);
    for (const w of workers) {
      if (opts.app) w.process.kill('SIGTERM');
      else if (w.isConnected()) w.send({ type: 'shutdown' });
    }
    const timer = setTimeout(() => {
      log('force-exit', { workers_left: Object.keys(cluster.workers).length });
      for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL');
      process.exit(1);
    }, opts.shutdownTimeoutMs + 1000);
    timer.unref();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  admin.listen(opts.adminPort, opts.host, () => {
    log('primary', { schedule: opts.schedule, workers: opts.workers, admin_port: admin.address().port });
    for (let i = 0; i < opts.workers; i++) fork();
  });
}

/**
 * Serve once the Redis counter is connected, when REDIS_URL asks for one (the shared-state
 * demo's /count/redis): a worker that listens is then a worker that can count, so the
 * harness's readiness probe covers Redis too. A connection that fails is one line and exit 3.
 */
function serve(opts, workerId, mode, extras = {}) {
  if (!process.env.REDIS_URL) return runWorker(opts, workerId, mode, extras);
  const { connectCounter } = require('./store');
  const url = process.env.REDIS_URL;
  return connectCounter(url, process.env.REDIS_COUNTER_KEY || undefined).then(
    (counter) => {
      log('redis-connected', { worker_id: workerId, url, key: counter.key });
      runWorker(opts, workerId, mode, { ...extras, counter });
    },
    (err) => {
      process.stderr.write(`server: cannot connect to Redis at ${url}: ${err && err.message}\n`);
      process.exit(3);
    },
  );
}

const opts = parseOptions();
if (opts.mode === 'single') {
  serve(opts, opts.workerId, 'single');
} else if (opts.mode === 'pool') {
  const { createPoolRunner } = require('./offload');
  serve(opts, opts.workerId, 'pool', { runner: createPoolRunner({ threads: opts.threads, queueLimit: opts.queueLimit }) });
} else if (opts.mode === 'spawn-per-request') {
  const { createSpawnRunner } = require('./offload');
  serve(opts, opts.workerId, 'spawn-per-request', { runner: createSpawnRunner({ maxLive: opts.maxLiveThreads }) });
} else if (opts.mode === 'pm2') {
  const instance = process.env.NODE_APP_INSTANCE;
  if (!/^\d+$/.test(instance || '')) fail('--mode pm2 runs under PM2, which sets NODE_APP_INSTANCE; it is not set');
  serve(opts, String(Number(instance) + 1), 'pm2', { stateDir: opts.stateDir });
} else if (opts.mode === 'reuseport') {
  serve(opts, opts.workerId, 'reuseport', { stateDir: opts.stateDir, reusePort: true });
} else if (cluster.isPrimary) {
  runPrimary(opts);
} else if (opts.app) {
  process.env.HARNESS_WORKER_ID = String(cluster.worker.id);
  require(path.resolve(opts.app));
} else {
  serve(opts, String(cluster.worker.id), 'cluster');
}
