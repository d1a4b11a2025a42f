'use strict';
// The Express example (../express-app/server.js) again, with Fastify: a second framework the
// harness knows nothing about, which writes its headers its own way (reply.header, then one
// res.writeHead with an object). It sends no x-worker-id or x-pid; the harness's preload
// tags and counts its responses per process all the same.
//
//   npm ci && harness run app --app examples/fastify-app/server.js --quick
const fastify = require('fastify')({ logger: false });

const port = Number(process.env.PORT || 3000); // the harness sets PORT,
const host = process.env.HOST || '127.0.0.1'; // and HOST to 127.0.0.1

// about a millisecond of CPU per request, as in the Express example
function work(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  return x;
}

fastify.get('/', async (request, reply) => {
  reply.header('cache-control', 'no-store');
  return `hello ${work(300000)}\n`;
});
fastify.get('/json', async () => ({ hello: 'world', n: work(300000) }));

fastify.listen({ port, host }).then(
  (address) => console.log(`fastify app listening on ${address}`),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
