/** Free TCP port on 127.0.0.1 (asks the kernel for an ephemeral port, then releases it). */
import { createServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    // Avoid handing the same port out twice from this process.
    if (port && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free port on 127.0.0.1');
}

/** True if something accepts TCP connections on host:port. */
export function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return acceptsConnection((sock, onConnect) => sock.connect(port, host, onConnect), timeoutMs);
}

/** Polls until host:port accepts connections; `abort()` returning a string stops early with that error. */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  abort?: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = abort?.();
    if (reason) throw new Error(reason);
    if (await canConnect(host, port)) return;
    if (Date.now() > deadline) throw new Error(`nothing is listening on ${host}:${port} after ${timeoutMs} ms`);
    await sleep(30);
  }
}

/** True if something accepts connections on the unix socket at `path`. */
export function canConnectUnix(path: string, timeoutMs = 500): Promise<boolean> {
  return acceptsConnection((sock, onConnect) => sock.connect(path, onConnect), timeoutMs);
}

/** Opens a socket with `connect` and closes it again: true once connected, false on error or timeout. */
function acceptsConnection(connect: (sock: Socket, onConnect: () => void) => void, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    connect(sock, () => done(true));
  });
}
