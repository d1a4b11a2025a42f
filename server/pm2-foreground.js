'use strict';
// PM2's God daemon in the foreground, for the harness's pm2 mode.
//
//   PM2_HOME=<private folder> HARNESS_PM2_ECOSYSTEM=<file.json> node pm2-foreground.js
//
// This process becomes the PM2 daemon (the cluster primary of the app instances) and
// starts the ecosystem file; the pm2 CLI (node_modules/.bin/pm2 with the same PM2_HOME)
// then reloads, restarts or kills it. Running the daemon in the foreground keeps it a
// child of the harness, in the harness's process group, so that it is sampled and can
// always be stopped. (`pm2 start --no-daemon` does the same but leaks its own argv,
// "start <file> --no-daemon", into every instance's argv.) Nothing is passed on the
// command line for the same reason: cluster instances inherit this process's arguments.
//
// SIGTERM or SIGINT: stop every instance the PM2 way (kill_timeout), then exit.

if (!process.env.PM2_HOME) {
  process.stderr.write('pm2-foreground: PM2_HOME is not set; refusing to use ~/.pm2\n');
  process.exit(2);
}
const ecosystem = process.env.HARNESS_PM2_ECOSYSTEM;
if (!ecosystem) {
  process.stderr.write('pm2-foreground: HARNESS_PM2_ECOSYSTEM (the app file) is not set\n');
  process.exit(2);
}

const PM2 = require('pm2').custom;

function log(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), pid: process.pid, event, ...fields })}\n`);
}

const pm2 = new PM2({ daemon_mode: false });
let stopping = false;

function stop(reason, code) {
  if (stopping) return;
  stopping = true;
  log('pm2-stopping', { reason });
  // killDaemon stops every app (SIGINT, SIGKILL after kill_timeout) and ends this process.
  pm2.killDaemon(() => process.exit(code));
}

process.on('SIGTERM', () => stop('SIGTERM', 0));
process.on('SIGINT', () => stop('SIGINT', 0));

pm2.connect((err) => {
  if (err) {
    process.stderr.write(`pm2-foreground: cannot start the PM2 daemon: ${err.message || err}\n`);
    process.exit(1);
  }
  log('pm2-daemon', { pm2_home: process.env.PM2_HOME });
  pm2.start(ecosystem, (startErr, apps) => {
    if (startErr) {
      process.stderr.write(`pm2-foreground: pm2 could not start ${ecosystem}: ${startErr.message || startErr}\n`);
      stop('start failed', 1);
      return;
    }
    log('pm2-started', { instances: apps.length });
  });
});
