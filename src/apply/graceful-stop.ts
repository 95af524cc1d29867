/**
 * Ends one pgbouncer process without failing a transaction, while another process on the same
 * port (so_reuseport) takes the new connections.
 *
 * pgbouncer 1.23+: SHUTDOWN WAIT_FOR_CLIENTS on its console (it closes its TCP listener at once,
 * so the kernel sends every new connection to the other process, and lets the connected clients
 * finish); once only our console session is left it exits by itself. Clients that stay connected
 * (persistent Django connections) get `drainMs`, then PAUSE + SHUTDOWN (pauseThenShutdown): each
 * is disconnected between two transactions, and reconnects at its next health check.
 * Without the console, SIGTERM does the first part; a second signal would be a fast exit in
 * 1.23+ (src/main.c: "got SIGINT while shutting down, fast exit"), so it is the last resort.
 *
 * Before 1.23: PAUSE + SHUTDOWN on the console (SIGINT without it: the same, exiting at the next
 * maintenance tick). Its TCP listener stays open while it pauses, so a connection the kernel still hands it in that short window is
 * disconnected at the exit (1.23 fixed exactly this, pgbouncer PR #902).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { OsAccount } from '../system/os-user-socket.js';
import { versionAtLeast } from '../settings/version.js';
import type { System } from '../system/system.js';
import { openPeerConsole, usedClients, type PeerConsole } from './peer-console.js';
import { isAlive } from '../system/pgbouncer-process.js';

export interface GracefulStopInput {
  system: System;
  pid: number;
  version: string;
  /** Its unix socket folder ('' when it has none) and port: the way to its console. */
  socketDir: string;
  port: number;
  account: OsAccount;
  /** How long connected clients may stay before they are disconnected between transactions (1.23+). */
  drainMs: number;
  /** How long running transactions may take before the process is ended at once. */
  serverWaitMs: number;
}

export interface GracefulStopOutcome {
  how: string;
  ms: number;
}

async function waitExit(system: System, pid: number, ms: number, poll?: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await isAlive(system, pid))) return true;
    if (poll && (await poll())) return (await waitExit(system, pid, Math.max(0, deadline - Date.now())));
    await sleep(50);
  }
  return !(await isAlive(system, pid));
}

export async function gracefulStop(input: GracefulStopInput): Promise<GracefulStopOutcome> {
  const { system, pid } = input;
  const started = Date.now();
  const done = (how: string) => ({ how, ms: Date.now() - started });
  if (!versionAtLeast(input.version, '1.23')) {
    const console = input.socketDir ? await openPeerConsole(input.socketDir, input.port, input.account).catch(() => undefined) : undefined;
    if (console) {
      try {
        if (await pauseThenShutdown(system, pid, console, input.serverWaitMs)) return done('PAUSE (running transactions finish), then SHUTDOWN at once');
      } finally {
        await console.close().catch(() => {});
      }
    }
    await system.exec('kill', ['-INT', String(pid)]);
    if (await waitExit(system, pid, input.serverWaitMs)) return done('SIGINT (pause, then exit once transactions finished)');
    await system.exec('kill', ['-TERM', String(pid)]);
    await waitExit(system, pid, 5000);
    return done(`SIGINT, then SIGTERM after ${input.serverWaitMs} ms (a transaction was still running)`);
  }
  let console: PeerConsole | undefined;
  if (input.socketDir) console = await openPeerConsole(input.socketDir, input.port, input.account).catch(() => undefined);
  if (!console) {
    await system.exec('kill', ['-TERM', String(pid)]);
    if (await waitExit(system, pid, input.drainMs + input.serverWaitMs)) return done('SIGTERM (waited for its clients to leave)');
    await system.exec('kill', ['-INT', String(pid)]);
    await waitExit(system, pid, 5000);
    return done('SIGTERM, then a fast exit: clients still connected after the wait');
  }
  try {
    await console.query('SHUTDOWN WAIT_FOR_CLIENTS');
    // Our own session is one of the used clients; once it is the only one, closing it ends the process.
    let alone = false;
    const drained = await waitExit(system, pid, input.drainMs, async () => {
      const n = await usedClients(console!).catch(() => undefined);
      if (n !== undefined && n <= 1) {
        alone = true;
        await console!.close();
        return true;
      }
      return false;
    });
    if (drained) return done('SHUTDOWN WAIT_FOR_CLIENTS (every client left)');
    if (alone) {
      if (await waitExit(system, pid, input.serverWaitMs)) return done('SHUTDOWN WAIT_FOR_CLIENTS (every client left)');
    } else if (await pauseThenShutdown(system, pid, console, input.serverWaitMs)) {
      return done(`SHUTDOWN WAIT_FOR_CLIENTS, then after ${input.drainMs} ms PAUSE and SHUTDOWN (persistent clients disconnected between transactions)`);
    }
    await system.exec('kill', ['-QUIT', String(pid)]);
    await waitExit(system, pid, 5000);
    return done(`SHUTDOWN WAIT_FOR_CLIENTS / WAIT_FOR_SERVERS, then SIGQUIT after ${input.serverWaitMs} ms (a transaction was still running)`);
  } finally {
    await console.close().catch(() => {});
  }
}

/**
 * PAUSE returns once every server connection is released (each running transaction finished) and
 * holds new queries back; SHUTDOWN right then closes the clients while none is inside a
 * transaction. SHUTDOWN WAIT_FOR_SERVERS (or SIGINT) would do the same but exits only at the next
 * maintenance tick, and every client that sends a query until then gets "server shutting down":
 * the shorter that window, the fewer persistent clients see an error instead of a closed connection.
 */
async function pauseThenShutdown(system: System, pid: number, console: PeerConsole, serverWaitMs: number): Promise<boolean> {
  // The timer is cancelled once PAUSE answers: a pending one would keep the process alive for serverWaitMs.
  const timer = new AbortController();
  const paused = await Promise.race([
    console.query('PAUSE').then(() => true, () => false),
    sleep(serverWaitMs, false, { signal: timer.signal }).catch(() => false),
  ]).finally(() => timer.abort());
  if (!paused) return false;
  // SHUTDOWN never answers: the process exits with the session open.
  void console.query('SHUTDOWN').catch(() => undefined);
  return waitExit(system, pid, 5000);
}
