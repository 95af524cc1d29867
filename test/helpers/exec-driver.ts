/**
 * A stand-in for pgb-setup in process-runner tests: runs one program through createNodeSystem().exec,
 * bundled by esbuild the way scripts/build.mjs bundles the CLI, and prints the result as JSON.
 * Usage: node driver.mjs '<json: {cmd, args, timeoutMs?}>'
 */
import { createNodeSystem } from '../../src/system/node-system.js';

const { cmd, args, timeoutMs } = JSON.parse(process.argv[2] ?? '{}') as { cmd: string; args: string[]; timeoutMs?: number };
const r = await createNodeSystem().exec(cmd, args, timeoutMs ? { timeoutMs } : {});
process.stdout.write(`${JSON.stringify(r)}\n`);
