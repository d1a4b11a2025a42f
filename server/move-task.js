'use strict';
// The receiving thread of the data-moving demo (move.js): reads one byte of every 4 KiB
// page of what it got, answers the sum, and gives a transferred buffer back the same way.

const { parentPort } = require('node:worker_threads');

const PAGE = 4096;

parentPort.on('message', ({ id, how, bytes }) => {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += PAGE) sum = (sum + bytes[i]) | 0;
  if (how === 'transfer') parentPort.postMessage({ id, sum, back: bytes }, [bytes.buffer]);
  else parentPort.postMessage({ id, sum });
});
