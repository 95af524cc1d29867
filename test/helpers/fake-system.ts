import type { ExecOptions, ExecResult, FileStat, System, WriteFileOptions } from '../../src/system/system.js';

export interface FakeFile {
  content: string;
  /** The exact bytes when they were written as bytes (content is then their UTF-8 reading). */
  bytes?: Buffer;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

type Answer = Partial<ExecResult> | ((args: readonly string[], options: ExecOptions) => Partial<ExecResult>);

/**
 * An in-memory host: files, directories, executables on PATH, and a table of commands.
 * A command that is not in the table throws, so an unexpected shell-out fails the test loudly
 * (np's stub-execa idea, without the fall-through to the real thing).
 */
export class FakeSystem implements System {
  readonly files = new Map<string, FakeFile>();
  readonly dirs = new Set<string>(['/']);
  readonly binaries = new Map<string, string>();
  readonly links = new Map<string, string>();
  readonly calls: { cmd: string; args: string[]; input?: string }[] = [];
  private readonly table: { pattern: RegExp; answer: Answer }[] = [];
  private clock = 1;

  on(pattern: RegExp | string, answer: Answer): this {
    this.table.unshift({ pattern: typeof pattern === 'string' ? new RegExp(`^(\\S*/)?${pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : pattern, answer });
    return this;
  }

  file(path: string, content: string, mode = 0o644, uid = 0, gid = 0): this {
    this.files.set(path, { content, mode, uid, gid, mtimeMs: this.clock++ });
    for (let d = path.slice(0, path.lastIndexOf('/')); d; d = d.slice(0, d.lastIndexOf('/'))) this.dirs.add(d);
    return this;
  }

  /** A symbolic link, e.g. /proc/<pid>/exe -> /usr/sbin/pgbouncer. */
  link(path: string, target: string): this {
    this.links.set(path, target);
    return this;
  }

  async readLink(path: string): Promise<string | undefined> {
    return this.links.get(path);
  }

  binary(name: string, path: string): this {
    this.binaries.set(name, path);
    return this.file(path, '', 0o755);
  }

  async exec(cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.calls.push({ cmd, args: [...args], ...(options.input !== undefined ? { input: options.input } : {}) });
    const line = [cmd, ...args].join(' ');
    const hit = this.table.find((t) => t.pattern.test(line));
    if (!hit) throw new Error(`FakeSystem: unexpected command: ${line}`);
    const r = typeof hit.answer === 'function' ? hit.answer(args, options) : hit.answer;
    return { exitCode: r.exitCode ?? 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  async readFile(path: string): Promise<string | undefined> {
    return this.files.get(path)?.content;
  }

  async readManaged(path: string): Promise<{ bytes: Buffer; stat: FileStat } | undefined> {
    const f = this.files.get(path);
    if (!f) return undefined;
    return { bytes: f.bytes ?? Buffer.from(f.content, 'utf8'), stat: (await this.stat(path))! };
  }

  async stat(path: string): Promise<FileStat | undefined> {
    const f = this.files.get(path);
    if (f) return { mode: f.mode, uid: f.uid, gid: f.gid, size: f.bytes?.length ?? Buffer.byteLength(f.content), mtimeMs: f.mtimeMs, isFile: true, isDirectory: false, kind: 'file' };
    if (this.dirs.has(path)) return { mode: 0o755, uid: 0, gid: 0, size: 0, mtimeMs: 0, isFile: false, isDirectory: true, kind: 'directory' };
    return undefined;
  }

  async lstat(path: string): Promise<FileStat | undefined> {
    return this.stat(path);
  }

  async writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions): Promise<void> {
    const old = this.files.get(path);
    this.file(path, typeof data === 'string' ? data : Buffer.from(data).toString('utf8'), options.mode, options.uid ?? old?.uid ?? 0, options.gid ?? old?.gid ?? 0);
    if (typeof data !== 'string') this.files.get(path)!.bytes = Buffer.from(data);
  }

  async mkdir(path: string): Promise<void> {
    for (let d = path; d; d = d.slice(0, d.lastIndexOf('/'))) this.dirs.add(d);
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(path) || this.dirs.has(path);
  }

  async which(cmd: string): Promise<string | undefined> {
    return this.binaries.get(cmd);
  }

  async setPermissions(path: string, mode: number, uid?: number, gid?: number): Promise<void> {
    const f = this.files.get(path);
    if (f) this.files.set(path, { ...f, mode, uid: uid ?? f.uid, gid: gid ?? f.gid });
  }

  async remove(path: string, options: { directory?: boolean; recursive?: boolean } = {}): Promise<void> {
    this.files.delete(path);
    if (options.directory || options.recursive) this.dirs.delete(path);
    if (options.recursive) {
      for (const f of [...this.files.keys()]) if (f.startsWith(`${path}/`)) this.files.delete(f);
      for (const d of [...this.dirs]) if (d.startsWith(`${path}/`)) this.dirs.delete(d);
    }
  }

  async readdir(path: string): Promise<string[] | undefined> {
    if (!this.dirs.has(path)) return undefined;
    const prefix = path === '/' ? '/' : `${path}/`;
    const names = new Set<string>();
    for (const p of [...this.files.keys(), ...this.dirs, ...this.links.keys()]) {
      if (p.startsWith(prefix) && p.length > prefix.length) names.add(p.slice(prefix.length).split('/')[0]!);
    }
    return [...names].sort();
  }

  async rename(from: string, to: string): Promise<void> {
    const move = (p: string) => (p === from ? to : p.startsWith(`${from}/`) ? to + p.slice(from.length) : undefined);
    for (const [p, f] of [...this.files]) {
      const q = move(p);
      if (q !== undefined) {
        this.files.delete(p);
        this.files.set(q, f);
      }
    }
    for (const d of [...this.dirs]) {
      const q = move(d);
      if (q !== undefined) {
        this.dirs.delete(d);
        this.dirs.add(q);
      }
    }
  }

  private temps = 0;

  async mkdtemp(prefix: string): Promise<string> {
    const path = `/tmp/${prefix}${String(++this.temps).padStart(6, '0')}`;
    await this.mkdir(path);
    return path;
  }

  commandLines(): string[] {
    return this.calls.map((c) => [c.cmd, ...c.args].join(' '));
  }
}
