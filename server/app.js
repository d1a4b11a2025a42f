'use strict';
// The reference request handler: the system under test.
//
// Plain node:http on purpose: no framework cost hides what the scaling modes do.
// Every route is cheap to reason about; every response says which worker (and pid)
// answered, so the harness can count the spread of requests exactly.

const crypto = require('node:crypto');
const { createMover } = require('./move');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');

// Route parameters: default, and the accepted range. Out of range or non-integer
// values get a 400 with the reason; nothing a client sends can crash a worker.
const PARAMS = {
  '/cpu': { name: 'work', default: 20, min: 1, max: 10000 },
  '/pbkdf2': { name: 'iterations', default: 10000, min: 1, max: 10000000 },
  '/io': { name: 'ms', default: 20, min: 0, max: 60000 },
  '/json': { name: 'items', default: 100, min: 0, max: 100000 },
  // the data-moving demo (move.js): megabytes handed to another thread per request
  '/move/clone': { name: 'mb', default: 16, min: 1, max: 64 },
  '/move/transfer': { name: 'mb', default: 16, min: 1, max: 64 },
  '/move/shared': { name: 'mb', default: 16, min: 1, max: 64 },
};
const ROUTES = ['/hello', '/cpu', '/pbkdf2', '/io', '/json', '/count/memory', '/count/redis', '/move/clone',
  '/move/transfer', '/move/shared', '/metrics', '/healthz'];
// What /count/redis answers when the process was started without REDIS_URL.
const NO_REDIS = 'no Redis configured: start the server with REDIS_URL=redis://127.0.0.1:PORT '
  + '(the harness starts redis-server and sets it for /count/redis workloads)';

// One unit of /cpu work: a fixed number of xorshift steps. The amount of computation
// is fixed, not the wall-clock time, so a worker that shares its core with another
// really takes longer (a time-based busy wait would do less work and flatter
// oversubscribed modes).
const STEPS_PER_UNIT = 50000;

function burn(units) {
  let x = 0x2545f491;
  let acc = 0;
  const steps = units * STEPS_PER_UNIT;
  for (let i = 0; i < steps; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    // (acc | 0): acc is always an int32, but saying so keeps the add an int32 add even in
    // on-stack-replacement code, whose entry values are untyped (without it, an OSR compile
    // that saw the sum overflow used a float64 add: 5.3 instead of 2.1 ms per burn(20)).
    acc = ((acc | 0) + (x & 0xffff)) | 0;
  }
  return acc >>> 0;
}

// Every mode runs burn() through this, never by a direct call. TurboFan inlines a small hot
// function into its hot caller, and the loop's machine code then depends on that caller:
// inlined into piscina's worker onMessage (a large async function with many live values)
// the xorshift state was spilled to the stack and every step took ~1.9x as long. A promise
// reaction job is called by a V8 builtin, which never inlines it, so burn() always runs as
// its own optimized function: the same machine code in single, cluster, pool and spawn.
function burnOutOfLine(units) {
  return Promise.resolve(units).then(burn);
}

class BadRequest extends Error {}

function intParam(url, route) {
  const spec = PARAMS[route];
  const raw = url.searchParams.get(spec.name);
  if (raw === null || raw === '') return spec.default;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new BadRequest(`${spec.name} must be a whole number from ${spec.min} to ${spec.max}, got ${JSON.stringify(raw.slice(0, 40))}`);
  }
  const value = Number(raw);
  if (value < spec.min || value > spec.max) {
    throw new BadRequest(`${spec.name} must be from ${spec.min} to ${spec.max}, got ${value}`);
  }
  return value;
}

function nsToMs(ns) {
  return Number.isFinite(ns) ? ns / 1e6 : null;
}

/**
 * Build the handler for one worker.
 * @param {{workerId: string, mode: string, cpu?: (work: number) => Promise<{result: number, threadId: number}>,
 *          extraMetrics?: () => object, counter?: {incr: () => Promise<number>}}} opts
 *   cpu: run /cpu somewhere else than on the event loop (a worker thread); the response
 *        then carries x-thread-id. A rejection with err.overloaded is a 503 with the reason.
 *   extraMetrics: more fields for /metrics (the thread pool's own counters).
 *   counter: the shared counter /count/redis increments (store.js, from REDIS_URL); without
 *        it /count/redis answers 503 with the reason.
 *
 * /count/memory and /count/redis are the shared-state teaching demo: each adds one to a
 * counter and answers the counter's new value. /count/memory keeps it in this process's
 * memory, so under cluster every worker counts only the requests it served; /count/redis
 * keeps it in Redis (INCR is atomic), so every worker adds to the one total.
 */
function createApp(opts) {
  const workerId = String(opts.workerId);
  const pid = String(process.pid);
  const startedAt = Date.now();
  const requestsByRoute = Object.fromEntries(ROUTES.map((r) => [r, 0]));
  requestsByRoute.other = 0;
  const responsesByStatus = {};
  let inFlight = 0;
  let draining = false;
  let memoryCount = 0; // /count/memory's counter: this process's memory, nobody else's
  let redisErrors = 0;
  let mover = null; // the data-moving demo's receiving thread, started on the first /move request
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const eluStart = performance.eventLoopUtilization();

  function metrics() {
    const elu = performance.eventLoopUtilization(eluStart);
    const mem = process.memoryUsage();
    return {
      pid: process.pid,
      worker_id: workerId,
      mode: opts.mode,
      node_version: process.version,
      uptime_s: (Date.now() - startedAt) / 1000,
      requests_by_route: { ...requestsByRoute },
      responses_by_status: { ...responsesByStatus },
      in_flight: inFlight,
      event_loop_delay_ms: {
        min: nsToMs(loopDelay.min),
        mean: nsToMs(loopDelay.mean),
        p50: nsToMs(loopDelay.percentile(50)),
        p90: nsToMs(loopDelay.percentile(90)),
        p99: nsToMs(loopDelay.percentile(99)),
        max: nsToMs(loopDelay.max),
        resolution_ms: 10,
      },
      event_loop_utilization: elu.utilization,
      memory_bytes: { rss: mem.rss, heap_used: mem.heapUsed, heap_total: mem.heapTotal, external: mem.external },
      uv_threadpool_size: process.env.UV_THREADPOOL_SIZE || null,
      counters: { memory: memoryCount, redis_configured: Boolean(opts.counter), redis_errors: redisErrors },
      ...(mover ? mover.metrics() : {}),
      ...(opts.extraMetrics ? opts.extraMetrics() : {}),
    };
  }

  function send(res, status, body) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    responsesByStatus[status] = (responsesByStatus[status] || 0) + 1;
    res.statusCode = status;
    res.setHeader('content-type', typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json');
    res.setHeader('content-length', Buffer.byteLength(text));
    if (draining) res.setHeader('connection', 'close');
    res.end(text);
  }

  function handle(req, res) {
    res.setHeader('x-worker-id', workerId);
    res.setHeader('x-pid', pid);
    let url;
    try {
      url = new URL(req.url, 'http://localhost');
    } catch {
      requestsByRoute.other += 1;
      return send(res, 400, { error: 'malformed request target' });
    }
    const route = url.pathname;
    if (Object.prototype.hasOwnProperty.call(requestsByRoute, route) && route !== 'other') {
      requestsByRoute[route] += 1;
    } else {
      requestsByRoute.other += 1;
      return send(res, 404, { error: `no route ${route.slice(0, 80)}`, routes: ROUTES });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, { error: 'only GET is served' });
    }
    // The harness's own probes are answered at once and never counted as in flight, so
    // /metrics reports the load's requests only.
    if (route === '/healthz') return send(res, draining ? 503 : 200, { ok: !draining, pid: process.pid, worker_id: workerId });
    if (route === '/metrics') return send(res, 200, metrics());
    inFlight += 1;
    let finished = false;
    const done = (status, body) => {
      if (finished) return;
      finished = true;
      inFlight -= 1;
      send(res, status, body);
    };
    try {
      switch (route) {
        case '/hello':
          return done(200, 'hello\n');
        case '/cpu': {
          const work = intParam(url, route);
          if (!opts.cpu) return burnOutOfLine(work).then((result) => done(200, { work, result }));
          return opts.cpu(work).then(
            ({ result, threadId }) => {
              res.setHeader('x-thread-id', String(threadId));
              done(200, { work, result });
            },
            (err) => {
              if (err && err.overloaded) done(503, { error: err.message });
              else done(500, { error: `the worker thread failed: ${err && err.message}` });
            },
          );
        }
        case '/pbkdf2': {
          const iterations = intParam(url, route);
          return crypto.pbkdf2('password', 'salt', iterations, 32, 'sha256', (err, key) => {
            if (err) done(500, { error: err.message });
            else done(200, { iterations, key: key.toString('hex') });
          });
        }
        case '/io': {
          const ms = intParam(url, route);
          return setTimeout(() => done(200, { ms }), ms);
        }
        case '/json': {
          const items = intParam(url, route);
          const list = new Array(items);
          for (let i = 0; i < items; i++) list[i] = { id: i, name: `item-${i}`, price: (i * 7919) % 10007 / 100, tags: ['a', 'b'] };
          return done(200, { items: list });
        }
        case '/count/memory':
          memoryCount += 1;
          return done(200, { store: 'memory', worker_id: workerId, count: memoryCount });
        case '/count/redis':
          if (!opts.counter) return done(503, { error: NO_REDIS });
          return opts.counter.incr().then(
            (count) => done(200, { store: 'redis', worker_id: workerId, count }),
            (err) => {
              redisErrors += 1;
              done(503, { error: `Redis INCR failed: ${err && err.message}` });
            },
          );
        case '/move/clone':
        case '/move/transfer':
        case '/move/shared': {
          const mb = intParam(url, route);
          const how = route.slice('/move/'.length);
          if (!mover) mover = createMover();
          return mover.move(how, mb).then(
            ({ sum, post_ms: postMs }) => {
              res.setHeader('x-post-ms', postMs.toFixed(3));
              done(200, { how, mb, sum, post_ms: postMs });
            },
            (err) => done(500, { error: `the receiving thread failed: ${err && err.message}` }),
          );
        }
        default:
          return done(404, { error: 'no route' });
      }
    } catch (err) {
      if (err instanceof BadRequest) return done(400, { error: err.message });
      return done(500, { error: 'internal error' });
    }
  }

  return {
    handle,
    metrics,
    startDraining() {
      draining = true;
    },
    get inFlight() {
      return inFlight;
    },
  };
}

module.exports = { createApp, burn, burnOutOfLine, PARAMS, ROUTES, STEPS_PER_UNIT };
