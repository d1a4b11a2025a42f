'use strict';
// The harness's preload for a user's own app (`harness run app --app FILE`): loaded with
// `node --require <this file>` into every process that runs the app (single, each cluster
// worker, each nginx backend, each PM2 instance), so that requests per process, event-loop
// delay and CPU are known for any app, without its cooperation.
//
//   HARNESS_PRELOAD_DIR=<folder> node --require /abs/server/preload.js app.js
//
// What it does, and only this:
//  - counts every HTTP/1 request the process's servers (http or https, whatever created
//    them: Express, Fastify, plain node:http) receive, from Node's own diagnostics channel
//    `http.server.request.start` (published by Node's HTTP parser before the server's
//    'request' event). No prototype, no emit, no listener on any server is touched, so an
//    app that calls server.emit('request', ...) itself, or wraps its servers, behaves as
//    without the preload (and such a request is counted once). Requests carrying the header
//    `x-harness-probe` (the harness's readiness probes) are counted apart, as probes.
//  - tags each response with `x-pid` and, when the harness gave the process an id
//    (HARNESS_WORKER_ID, or PM2's NODE_APP_INSTANCE + 1), `x-worker-id`, each only where the
//    app sets none itself, when the response's headers are written (see tagging: the one
//    thing it touches is that response's own writeHead, wrapped; the prototype is not).
//  - measures event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution, as the
//    reference server does), event-loop utilization, CPU time and RSS.
//  - writes all of it to <HARNESS_PRELOAD_DIR>/<pid>.json (a temporary file, then a rename:
//    a reader never sees half a file) at its start, every WRITE_EVERY_MS and at exit. The
//    timer is unref'd (it never keeps a process alive) and no signal handler is installed
//    (an app without one still dies of SIGTERM as before).
// Under PM2 (NODE_APP_INSTANCE set, HARNESS_WORKER_ID not) it sets HARNESS_WORKER_ID to
// NODE_APP_INSTANCE + 1 before the app runs, so the app sees 1..N as in the other modes.
// HTTP/2 streams (node:http2 without allowHTTP1) are neither counted nor tagged: Node 20
// publishes no channel for them, and Locust speaks HTTP/1.1 anyway.
// Without HARNESS_PRELOAD_DIR it does nothing at all.

const dir = process.env.HARNESS_PRELOAD_DIR;
if (dir) install(dir);

function install(folder) {
  const dc = require('node:diagnostics_channel');
  const fs = require('node:fs');
  const path = require('node:path');
  const { monitorEventLoopDelay, performance } = require('node:perf_hooks');

  const WRITE_EVERY_MS = 500;
  const PROBE_HEADER = 'x-harness-probe';
  const pid = String(process.pid);
  const ID = /^[A-Za-z0-9_-]{1,32}$/;
  // PM2 runs this file before its ProcessContainer copies the instance's environment
  // (NODE_APP_INSTANCE among it) from the JSON in pm2_env into process.env: read it there.
  let instance = process.env.NODE_APP_INSTANCE;
  if (instance === undefined && process.env.pm2_env) {
    try {
      instance = JSON.parse(process.env.pm2_env).NODE_APP_INSTANCE;
    } catch {
      instance = undefined;
    }
  }
  if (!process.env.HARNESS_WORKER_ID && /^\d+$/.test(String(instance))) {
    process.env.HARNESS_WORKER_ID = String(Number(instance) + 1);
  }
  // The process's id as the harness gave it ('' when none), read at the first request and
  // not before: the harness's cluster wrapper sets each worker's id after this file ran
  // and before it loads the app.
  function harnessId() {
    const id = process.env.HARNESS_WORKER_ID;
    if (id && ID.test(id)) return id;
    const n = process.env.NODE_APP_INSTANCE;
    return /^\d+$/.test(n || '') ? String(Number(n) + 1) : '';
  }
  let workerId = null;
  const counts = { requests: 0, probes: 0, responses: 0 };
  const startedTs = Date.now() / 1000;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const eluStart = performance.eventLoopUtilization();
  const file = path.join(folder, `${pid}.json`);
  const tmp = `${file}.tmp`;

  function onRequest(message) {
    const { request, response } = message;
    if (request && request.headers && request.headers[PROBE_HEADER] !== undefined) counts.probes += 1;
    else counts.requests += 1;
    if (!response || typeof response.writeHead !== 'function') return;
    if (workerId === null) workerId = harnessId();
    response.writeHead = tagging(response.writeHead);
  }

  // The tags go in when the app's headers do, in writeHead (which res.end, res.write and
  // res.flushHeaders call too when the app did not), and only those the app did not set.
  // Where the app has set no header with setHeader they go into a copy of the headers it
  // passes to writeHead, never through setHeader: Node would then take its other path
  // ("progressive API"), which merges what writeHead is given with setHeader (a header
  // named twice in a flat array would be sent once). Where it has, setHeader is the path
  // already taken. A writeHead after the headers were sent goes to Node untouched (and
  // throws as it would). Returns the original's result.
  function tagging(original) {
    return function writeHead(statusCode, reason, obj) {
      const args = Array.prototype.slice.call(arguments);
      if (this.headersSent) return original.apply(this, args);
      const at = typeof reason === 'string' ? 2 : 1;
      const given = args[at];
      const named = headerNames(given);
      if (named === null) return original.apply(this, args); // not headers Node takes: its own error, untouched
      const missing = [['x-pid', pid], ['x-worker-id', workerId]]
        .filter(([name, value]) => value && !named.has(name) && !this.hasHeader(name));
      if (missing.length === 0) return original.apply(this, args);
      if (given == null || this.getHeaderNames().length > 0) {
        for (const [name, value] of missing) this.setHeader(name, value);
      } else if (Array.isArray(given)) {
        args[at] = given.length && Array.isArray(given[0]) ? [...given, ...missing] : [...given, ...missing.flat()];
      } else {
        args[at] = { ...given, ...Object.fromEntries(missing) };
      }
      return original.apply(this, args);
    };
  }

  // The lower-case names in writeHead's headers argument (an object, a flat array of names
  // and values, or an array of [name, value]); null for anything else (left to Node as is).
  function headerNames(given) {
    const names = new Set();
    if (given == null) return names;
    if (Array.isArray(given)) {
      if (given.length && Array.isArray(given[0])) {
        for (const entry of given) if (Array.isArray(entry) && typeof entry[0] === 'string') names.add(entry[0].toLowerCase());
        return names;
      }
      if (given.length % 2 !== 0) return null;
      for (let i = 0; i < given.length; i += 2) if (typeof given[i] === 'string') names.add(given[i].toLowerCase());
      return names;
    }
    if (typeof given !== 'object') return null;
    for (const name of Object.keys(given)) names.add(name.toLowerCase());
    return names;
  }

  function onFinish() {
    counts.responses += 1;
  }
  dc.subscribe('http.server.request.start', onRequest);
  dc.subscribe('http.server.response.finish', onFinish);

  const ms = (ns) => (Number.isFinite(ns) ? ns / 1e6 : null);
  function write(final) {
    const cpu = process.cpuUsage();
    const elu = performance.eventLoopUtilization(eluStart);
    const doc = {
      pid: process.pid,
      ppid: process.ppid,
      worker_id: workerId === null ? harnessId() : workerId,
      node_version: process.version,
      started_ts: startedTs,
      written_ts: Date.now() / 1000,
      final,
      ...counts,
      event_loop_delay_ms: {
        p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max),
        mean: ms(loopDelay.mean),
      },
      event_loop_utilization: elu.utilization,
      cpu_user_s: cpu.user / 1e6,
      cpu_system_s: cpu.system / 1e6,
      rss_bytes: process.memoryUsage.rss(),
    };
    try {
      fs.writeFileSync(tmp, JSON.stringify(doc));
      fs.renameSync(tmp, file);
    } catch {
      // the folder went away (the case is over): nothing to report to, and never the app's problem
    }
  }
  write(false);
  setInterval(() => write(false), WRITE_EVERY_MS).unref();
  process.on('exit', () => write(true));
}
