#!/usr/bin/env -S node --
// The `--` ends Node.js's own options: Node.js 20.6+ and 22 look for --env-file anywhere in their
// argv, script arguments included, and stop only at `--` (nodejs/node#54237, in 20.19 and 22.x), so
// `pgb-setup render ... --env-file FILE` would be read (or hang on a FIFO) by Node.js, not by us.
import { main } from '../dist/cli.js';

const [major, minor] = process.versions.node.split('.').map(Number);
const nodeReadsEnvFile = (major === 20 && minor >= 6 && minor < 19) || major === 21;
if (nodeReadsEnvFile && process.argv.slice(2).some((a) => a === '--env-file' || a.startsWith('--env-file='))) {
  // Node.js has already read the file itself (even after `--`); its variables are in process.env.
  process.stderr.write(`pgb-setup: --env-file: Node.js ${process.versions.node} reads --env-file itself before pgb-setup starts; use Node.js 20.19 or newer, or export the variables instead\n`);
  process.exitCode = 2;
} else {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
