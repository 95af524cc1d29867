/**
 * A unix-socket connection to PostgreSQL made by another OS account, the way `sudo -u postgres
 * psql` is: PostgreSQL's peer authentication asks the kernel who called connect(), so a child
 * process running with that account's uid/gid connects and hands the connected socket back over
 * Node's IPC channel; the child then exits. The child gets only the socket path: no password, no
 * SQL, no secret passes through it.
 */
// Not System.exec: the child must hand a connected socket back over an IPC channel, which the runner (execa) does not carry.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/** Runs in the child (CommonJS, `node -e`): connect, send the socket to the parent, leave. */
const CHILD = `
const s = require('node:net').connect({ path: process.argv[1] });
const bye = () => process.disconnect();
s.once('connect', () => process.send({ ok: true }, s, bye));
s.once('error', (e) => process.send({ ok: false, code: e.code, message: e.message }, bye));
`;

export interface OsAccount {
  name: string;
  uid: number;
  gid: number;
}

class OsUserSocketError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

export function connectAsOsUser(socketPath: string, account: OsAccount, timeoutMs = 10_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD, socketPath], {
      uid: account.uid,
      gid: account.gid,
      cwd: '/',
      // Nothing of ours (NODE_OPTIONS, HOME) reaches the child.
      env: { PATH: '/usr/bin:/bin', LANG: 'C' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let settled = false;
    let stderr = '';
    const finish = (err: Error | undefined, socket?: Socket) => {
      if (settled) {
        socket?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (err) reject(err);
      else resolve(socket!);
    };
    const timer = setTimeout(() => finish(new OsUserSocketError(`no connection to ${socketPath} as ${account.name} within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    child.stderr!.on('data', (b: Buffer) => {
      if (stderr.length < 2000) stderr += b.toString('utf8');
    });
    child.once('error', (e) => finish(new OsUserSocketError(`cannot start a process as ${account.name}: ${e.message}`, (e as NodeJS.ErrnoException).code ?? 'ERROR')));
    child.on('message', (msg: { ok?: boolean; code?: string; message?: string }, handle: unknown) => {
      if (msg?.ok && handle) finish(undefined, handle as Socket);
      else finish(new OsUserSocketError(`connecting to ${socketPath} as ${account.name} failed: ${String(msg?.message ?? 'no socket')}`, String(msg?.code ?? 'ERROR')));
    });
    child.once('exit', (code, signal) => {
      // A socket message arrives before the exit; an exit without one is a failure.
      setImmediate(() =>
        finish(new OsUserSocketError(`the process connecting as ${account.name} ended (${signal ?? code})${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}`, 'ECHILD')),
      );
    });
  });
}

/**
 * node-postgres always calls stream.connect(); for a socket that is already connected, make that
 * call just report the connection.
 */
export function asConnectedStream(socket: Socket): Socket {
  (socket as unknown as { connect: () => Socket }).connect = () => {
    setImmediate(() => socket.emit('connect'));
    return socket;
  };
  return socket;
}
