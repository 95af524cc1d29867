/**
 * A tiny PostgreSQL-protocol server on 127.0.0.1 for login tests: answers SSLRequest with 'N',
 * reads the startup packet, then lets a script drive the authentication messages.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface FakeLogin {
  socket: Socket;
  startup: Record<string, string>;
  /** Next frontend message (type + body). */
  next(): Promise<{ type: string; body: Buffer }>;
  send(type: string, body: Buffer): void;
  auth(code: number, data?: Buffer): void;
  error(code: string, message: string): void;
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

export async function startFakePg(script: (login: FakeLogin) => Promise<void>): Promise<{ port: number; server: Server; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let wake: (() => void) | undefined;
    socket.on('data', (c: Buffer) => {
      buffer = Buffer.concat([buffer, c]);
      wake?.();
    });
    const need = async (n: number) => {
      while (buffer.length < n) await new Promise<void>((r) => (wake = r));
    };
    const take = (n: number) => {
      const b = buffer.subarray(0, n);
      buffer = buffer.subarray(n);
      return b;
    };
    const login: FakeLogin = {
      socket,
      startup: {},
      async next() {
        await need(5);
        const type = String.fromCharCode(buffer[0]!);
        const len = buffer.readInt32BE(1);
        await need(1 + len);
        const m = take(1 + len);
        return { type, body: m.subarray(5) };
      },
      send(type, body) {
        socket.write(Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body]));
      },
      auth(code, data = Buffer.alloc(0)) {
        login.send('R', Buffer.concat([int32(code), data]));
      },
      error(code, message) {
        login.send('E', Buffer.from(`SFATAL\0C${code}\0M${message}\0\0`, 'utf8'));
      },
    };
    void (async () => {
      for (;;) {
        await need(8);
        const len = buffer.readInt32BE(0);
        await need(len);
        const packet = take(len);
        if (packet.readInt32BE(4) === 80877103) {
          socket.write('N');
          continue;
        }
        const parts = packet.subarray(8).toString('utf8').split('\0');
        for (let i = 0; i + 1 < parts.length && parts[i]; i += 2) login.startup[parts[i]!] = parts[i + 1]!;
        break;
      }
      await script(login);
    })().catch(() => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
