'use strict';
// The data-moving teaching demo: hand `mb` MB to another thread and get an answer back, in
// one of three ways (routes /move/clone, /move/transfer, /move/shared):
//
//   clone     postMessage(bytes): the structured clone algorithm copies the bytes into the
//             message on the sending thread (its event loop waits for the copy) and out
//             again on the receiving one. The sender keeps its buffer.
//   transfer  postMessage(bytes, [bytes.buffer]): the ArrayBuffer's memory changes owner; no
//             copy, and the sender's buffer is detached (empty) until the receiver transfers
//             it back, which it does here with its answer, so the buffer is used again.
//   shared    a SharedArrayBuffer filled once; every message carries only a reference to the
//             same memory (Atomics would order writes; here the receiver only reads).
//
// In every way the receiver does the same work on the data: it reads one byte of every
// 4 KiB page (touching all of it) and answers their sum, so the three differ only in how the
// bytes get there. Each HTTP process starts one receiving thread, on the first /move request.

const path = require('node:path');
const { Worker } = require('node:worker_threads');

const MB = 1024 * 1024;
const PAGE = 4096;
const HOWS = ['clone', 'transfer', 'shared'];

function fill(bytes) {
  for (let i = 0; i < bytes.length; i += PAGE) bytes[i] = (i / PAGE) & 0xff;
  return bytes;
}

function createMover() {
  let worker = null;
  let nextId = 1;
  const waiting = new Map();
  const cloneSource = new Map(); // mb -> Uint8Array kept by the sender (cloned from, never given away)
  const transferFree = new Map(); // mb -> Uint8Array[] back from the receiver, free to send again
  const shared = new Map(); // mb -> SharedArrayBuffer, filled once
  const counts = { clone: 0, transfer: 0, shared: 0 };
  const postMs = { clone: 0, transfer: 0, shared: 0 };

  function receiver() {
    if (worker) return worker;
    worker = new Worker(path.join(__dirname, 'move-task.js'));
    worker.unref();
    worker.on('message', ({ id, sum, back }) => {
      const entry = waiting.get(id);
      if (!entry) return;
      waiting.delete(id);
      if (back) transferFree.get(back.length / MB).push(back);
      entry.resolve({ sum, post_ms: entry.postMs });
    });
    worker.on('error', (err) => {
      for (const entry of waiting.values()) entry.reject(err);
      waiting.clear();
      worker = null;
    });
    return worker;
  }

  function payload(how, mb) {
    if (how === 'clone') {
      if (!cloneSource.has(mb)) cloneSource.set(mb, fill(new Uint8Array(mb * MB)));
      return { message: cloneSource.get(mb), list: [] };
    }
    if (how === 'transfer') {
      if (!transferFree.has(mb)) transferFree.set(mb, []);
      const bytes = transferFree.get(mb).pop() || fill(new Uint8Array(mb * MB));
      return { message: bytes, list: [bytes.buffer] };
    }
    if (!shared.has(mb)) shared.set(mb, fill(new Uint8Array(new SharedArrayBuffer(mb * MB))));
    return { message: shared.get(mb), list: [] };
  }

  /** Move `mb` MB to the receiving thread `how`; resolves {sum, post_ms}: post_ms is how long
   * postMessage held the sending thread (its event loop). */
  function move(how, mb) {
    const w = receiver();
    const id = nextId++;
    const { message, list } = payload(how, mb);
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      w.postMessage({ id, how, bytes: message }, list);
      const took = performance.now() - t0;
      counts[how] += 1;
      postMs[how] += took;
      waiting.set(id, { resolve, reject, postMs: took });
    });
  }

  function metrics() {
    return { move: { messages: { ...counts }, post_ms_total: { ...postMs } } };
  }

  return { move, metrics };
}

module.exports = { createMover, HOWS, MB, PAGE };
