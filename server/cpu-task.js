'use strict';
// The /cpu work run off the event loop, in a worker_threads thread.
//
// pool mode:              piscina calls the exported function in one of its threads.
// spawn-per-request mode: a fresh `new Worker(__filename, { workerData: { work } })` per
//                         request computes once, posts the answer and is terminated.
// Both run exactly the same burn() as the event-loop /cpu route (app.js), and call it the
// same way (burnOutOfLine, see app.js), so the modes differ only in where the work runs and
// what it costs to get it there.

const { parentPort, threadId, workerData } = require('node:worker_threads');
const { burnOutOfLine } = require('./app');

function cpuTask({ work }) {
  return burnOutOfLine(work).then((result) => ({ result, threadId }));
}

module.exports = cpuTask;

if (workerData && workerData.oneShot === true && parentPort) {
  cpuTask(workerData).then((msg) => parentPort.postMessage(msg));
}
