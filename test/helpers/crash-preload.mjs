// Loaded into a pgb-setup child with `node --import <this file>` by the trust harness
// (test/helpers/trust-cli.ts). It changes nothing in pgb-setup itself: it wraps node's fs/promises
// and child_process so the harness can
//
//   PGB_TRUST_CRASH_AT=<n>   SIGKILL this process just before its n-th filesystem mutation
//                            (open for writing, write, chmod, chown, fsync, rename, unlink, rm,
//                            mkdir, close of a written file): a deterministic crash point;
//   PGB_TRUST_TRACE=<file>   append one line per mutation (`pid op path`, before and after it) and
//                            per child process started (`pid exec <json argv>`) to <file>, with
//                            O_APPEND so lines of concurrent processes never mix within a line;
//   PGB_TRUST_COUNT=<file>   write the number of mutations made to <file> at exit.
//
// Counting starts when this module loads, so the numbering is the same for every run of one
// scenario (the fs calls pgb-setup makes are sequential and deterministic for the same input).
import { appendFileSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
const fsp = require('node:fs/promises');
const cp = require('node:child_process');

const crashAt = Number(process.env.PGB_TRUST_CRASH_AT ?? 0);
const trace = process.env.PGB_TRUST_TRACE;
const countFile = process.env.PGB_TRUST_COUNT;
let count = 0;

function log(line) {
  if (trace) appendFileSync(trace, `${process.pid} ${line}\n`);
}

function mutation(op, path) {
  count += 1;
  if (crashAt > 0 && count === crashAt) {
    log(`crash ${count} ${op} ${path}`);
    process.kill(process.pid, 'SIGKILL');
  }
  log(`begin ${op} ${path}`);
}

const WRITE_FLAGS = /[wax+]/;

function wrap(obj, name, isMutation, pathOf = (args) => String(args[0])) {
  const original = obj[name];
  if (typeof original !== 'function') return;
  obj[name] = async function (...args) {
    const path = pathOf(args, this);
    const mutating = isMutation(args);
    if (mutating) mutation(name, path);
    try {
      const result = await original.apply(this, args);
      if (mutating) log(`ok ${name} ${path}`);
      if (name === 'open' && result && typeof result === 'object') handlePaths.set(result, { path, written: mutating });
      return result;
    } catch (e) {
      if (mutating) log(`fail ${name} ${path} ${e?.code ?? ''}`);
      throw e;
    }
  };
}

const handlePaths = new WeakMap();
const always = () => true;
wrap(fsp, 'open', (args) => WRITE_FLAGS.test(String(args[1] ?? 'r')));
for (const name of ['writeFile', 'appendFile', 'rename', 'unlink', 'rm', 'rmdir', 'mkdir', 'chmod', 'chown', 'lchown', 'copyFile', 'link', 'symlink', 'truncate', 'mkdtemp']) {
  wrap(fsp, name, always);
}

// FileHandle methods: one handle gives us the shared prototype.
const probe = await fsp.open('/dev/null', 'r');
const handleProto = Object.getPrototypeOf(probe);
await probe.close();
const handlePath = (_args, self) => handlePaths.get(self)?.path ?? '(handle)';
for (const name of ['writeFile', 'write', 'chmod', 'chown', 'sync', 'datasync', 'truncate']) {
  wrap(handleProto, name, always, handlePath);
}
{
  const close = handleProto.close;
  handleProto.close = async function (...args) {
    const info = handlePaths.get(this);
    if (info?.written) mutation('close', info.path);
    return close.apply(this, args);
  };
}

for (const name of ['spawn', 'execFile', 'execFileSync', 'spawnSync']) {
  const original = cp[name];
  cp[name] = function (cmd, args, ...rest) {
    log(`exec ${JSON.stringify([cmd, ...(Array.isArray(args) ? args : [])])}`);
    return original.call(this, cmd, args, ...rest);
  };
}
syncBuiltinESMExports();

if (countFile) process.on('exit', () => writeFileSync(countFile, String(count)));
