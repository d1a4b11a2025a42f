'use strict';
// Runners that take /cpu off the event loop (modes pool and spawn-per-request).
//
// A runner is { run(work) -> Promise<{ result, threadId }>, metrics() -> object }.
// run() rejects with an Overloaded error when the request cannot be taken now; app.js
// answers that with a 503 and the reason.

const path = require('node:path');
const { Worker } = require('node:worker_threads');

const TASK_FILE = path.join(__dirname, 'cpu-task.js');

class Overloaded extends Error {
  constructor(message) {
    super(message);
    this.overloaded = true;
  }
}

/**
 * pool: a piscina pool of exactly `threads` threads (min = max, so no thread is ever
 * started or retired under load). queueLimit: how many tasks may wait for a free thread
 * (null: no limit; 0: none may wait).
 */
function createPoolRunner({ threads, queueLimit }) {
  const { Piscina } = require('piscina');
  const pool = new Piscina({
    filename: TASK_FILE,
    minThreads: threads,
    maxThreads: threads,
    maxQueue: queueLimit === null ? Infinity : queueLimit,
    idleTimeout: Infinity,
  });
  let rejected = 0;

  async function run(work) {
    try {
      return await pool.run({ work });
    } catch (err) {
      // piscina's two "no room" errors: TaskQueueAtLimit and NoTaskQueueAvailable
      if (/Task queue is at limit|No task queue available/.test(err && err.message)) {
        rejected += 1;
        throw new Overloaded(`all ${threads} pool threads are busy and the queue is full (queue_limit ${queueLimit})`);
      }
      throw err;
    }
  }

  function metrics() {
    return {
      pool: {
        threads,
        thread_ids: pool.threads.map((t) => t.threadId),
        queue_limit: queueLimit,
        queue_size: pool.queueSize,
        completed: pool.completed,
        rejected_queue_full: rejected,
        utilization: pool.utilization,
        run_time_ms: summary(pool.histogram && pool.histogram.runTime),
        wait_time_ms: summary(pool.histogram && pool.histogram.waitTime),
      },
    };
  }

  return { run, metrics, close: () => pool.destroy() };
}

function summary(s) {
  if (!s) return null;
  return { mean: s.mean, p50: s.p50, p99: s.p99, max: s.max };
}

/**
 * spawn-per-request (the anti-pattern): every /cpu request starts a new Worker, waits for
 * its one answer and terminates it. maxLive bounds the threads alive at once so that a
 * load of thousands of users cannot exhaust the machine's memory (each thread is a whole
 * V8 isolate); past it requests get a 503.
 */
function createSpawnRunner({ maxLive }) {
  let live = 0;
  let spawned = 0;
  let completed = 0;
  let rejected = 0;

  function run(work) {
    if (live >= maxLive) {
      rejected += 1;
      return Promise.reject(new Overloaded(`${live} worker threads are already alive (limit ${maxLive})`));
    }
    live += 1;
    spawned += 1;
    return new Promise((resolve, reject) => {
      const worker = new Worker(TASK_FILE, { workerData: { oneShot: true, work } });
      const threadId = worker.threadId;
      let answered = false;
      worker.once('message', (msg) => {
        answered = true;
        completed += 1;
        resolve({ result: msg.result, threadId });
        worker.terminate();
      });
      worker.once('error', (err) => {
        if (!answered) reject(err);
      });
      worker.once('exit', (code) => {
        live -= 1;
        if (!answered) reject(new Error(`worker thread ${threadId} exited with code ${code} before answering`));
      });
    });
  }

  function metrics() {
    return { spawn: { live_threads: live, max_live_threads: maxLive, spawned, completed, rejected_too_many: rejected } };
  }

  return { run, metrics, close: () => {} };
}

module.exports = { createPoolRunner, createSpawnRunner, Overloaded };
