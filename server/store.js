'use strict';
// The shared counter of /count/redis: one key in Redis, incremented with INCR.
//
// INCR is atomic in Redis, so however many workers (processes, machines) add to the key
// at once, none of their increments is lost: the key ends at the number of INCRs that
// succeeded. That is what the in-memory counter of /count/memory cannot give under cluster.
//
// Configured from the environment (set by the harness for /count/redis workloads):
//   REDIS_URL          redis://127.0.0.1:PORT (no default: without it /count/redis answers 503)
//   REDIS_COUNTER_KEY  the key (default harness:count)
//   REDIS_PASSWORD     the password (the harness makes one per case), kept out of the URL so
//                      that logs which print the URL never show it

const { createClient } = require('@redis/client');

const DEFAULT_KEY = 'harness:count';
// A command that gets no answer within this time fails (503) instead of hanging the request.
const COMMAND_TIMEOUT_MS = 5000;

/**
 * Connect to Redis and return the counter, or reject with a one-line reason.
 * @param {string} url
 * @param {string} [key]
 * @returns {Promise<{incr: () => Promise<number>, close: () => Promise<void>, url: string, key: string}>}
 */
async function connectCounter(url, key = DEFAULT_KEY) {
  const client = createClient({
    url,
    password: process.env.REDIS_PASSWORD || undefined,
    commandOptions: { timeout: COMMAND_TIMEOUT_MS },
    // Retry a lost connection for about 9 s (20 tries, 50 ms more each, at most 500 ms
    // apart), then give up: connect() rejects and the worker reports why.
    socket: { connectTimeout: 5000, reconnectStrategy: (retries) => (retries > 20 ? false : Math.min(50 * (retries + 1), 500)) },
  });
  // Without an 'error' listener a lost connection would crash the worker; requests in
  // flight get a 503 from the rejected command instead. Before the first connection the
  // retries stay quiet: connect() rejects with the reason once they are spent.
  let connected = false;
  client.on('error', (err) => {
    if (connected) process.stderr.write(`server: redis client error: ${err.message}\n`);
  });
  await client.connect();
  connected = true;
  return {
    url,
    key,
    incr: () => client.incr(key),
    close: () => client.close(),
  };
}

module.exports = { connectCounter, DEFAULT_KEY };
