import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeSystem, systemAt } from '../../../src/system/node-system.js';
import { getentGroup, getentPasswd } from '../../../src/system/getent.js';
import { parsePort } from '../../../src/settings/port.js';
import { isCidr, isLoopbackAddress } from '../../../src/settings/address.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});
function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'pgb-sys-dirs-'));
  roots.push(root);
  return root;
}

describe('System readdir, rename, mkdtemp, recursive remove under --root', () => {
  it('work on paths inside the root, and mkdtemp makes a private folder there', async () => {
    const root = tree();
    mkdirSync(join(root, 'tmp'));
    mkdirSync(join(root, 'var/backups/pgb-setup/2026-12-02T09-00-00Z'), { recursive: true });
    const sys = createNodeSystem({ root });
    expect(await sys.readdir('/var/backups/pgb-setup')).toEqual(['2026-12-02T09-00-00Z']);
    expect(await sys.readdir('/no/such/folder')).toBeUndefined();
    await sys.rename('/var/backups/pgb-setup/2026-12-02T09-00-00Z', '/var/backups/pgb-setup/2026-12-02T09-00-00Z.restored');
    expect(await sys.readdir('/var/backups/pgb-setup')).toEqual(['2026-12-02T09-00-00Z.restored']);
    const temp = await sys.mkdtemp('pgb-setup-x-');
    expect(temp).toMatch(new RegExp(`^${tmpdir()}/pgb-setup-x-\\w{6}$`));
    expect(statSync(join(root, temp)).mode & 0o777).toBe(0o700);
    writeFileSync(join(root, temp, 'f'), 'x');
    await sys.remove(temp, { recursive: true });
    expect(existsSync(join(root, temp))).toBe(false);
  });

  it('rename refuses a folder that leads out of the root through a link', async () => {
    const root = tree();
    const outside = tree();
    symlinkSync(outside, join(root, 'etc'));
    writeFileSync(join(root, 'a'), 'x');
    await expect(createNodeSystem({ root }).rename('/a', '/etc/a')).rejects.toThrow(/leads out of --root/);
    expect(existsSync(join(outside, 'a'))).toBe(false);
  });

  it('systemAt: the caller\'s System without a root, a rooted one with it', async () => {
    const fake = new FakeSystem();
    expect(systemAt(fake, undefined)).toBe(fake);
    const root = tree();
    writeFileSync(join(root, 'marker'), 'here');
    expect(await systemAt(fake, root).readFile('/marker')).toBe('here');
  });

  it('the fake lists, renames and removes folders like the real one', async () => {
    const fake = new FakeSystem().file('/b/x/1', '1').file('/b/y', '2');
    expect(await fake.readdir('/b')).toEqual(['x', 'y']);
    await fake.rename('/b/x', '/b/z');
    expect(await fake.readdir('/b')).toEqual(['y', 'z']);
    expect(await fake.readFile('/b/z/1')).toBe('1');
    await fake.remove('/b', { recursive: true });
    expect(await fake.readdir('/b')).toBeUndefined();
  });
});

describe('one getent reader', () => {
  const sys = new FakeSystem()
    .on('getent passwd postgres', { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' })
    .on('getent passwd broken', { stdout: 'broken:x::104::/:/bin/sh\n' })
    .on('getent passwd nan', { stdout: 'nan:x:abc:104::/:/bin/sh\n' })
    .on('getent passwd nobody-here', { exitCode: 2 })
    .on('getent group 104', { stdout: 'postgres:x:104:\n' });
  it.each([
    ['postgres', { name: 'postgres', uid: 101, gid: 104 }],
    ['broken', undefined],
    ['nan', undefined],
    ['nobody-here', undefined],
  ])('getent passwd %s', async (name, want) => {
    expect(await getentPasswd(sys, name)).toEqual(want);
  });
  it('getent group', async () => {
    expect(await getentGroup(sys, '104')).toEqual({ name: 'postgres', gid: 104 });
  });
});

describe('parsePort and address checks', () => {
  it.each([['6432', 6432], ['1', 1], ['65535', 65535]])('%s is a port', (text, port) => expect(parsePort(text, '--port')).toBe(port));
  it.each(['0', '65536', '006432', '64.32', '', 'x'])('%j is not', (text) => expect(() => parsePort(text, '--port')).toThrow(`--port: "${text}" is not a port (1-65535)`));
  it.each([['10.0.0.0/8', true], ['192.168.1.5', true], ['fd00::/8', true], ['::1', true], ['01.2.3.4', false], ['10.0.0.0/33', false], ['::ffff:1.2.3.4', false], ['fe80::1%eth0', false], ['1::2::3', false], ['10.0.0.0/8/8', false]])('isCidr(%j) is %s', (text, ok) => expect(isCidr(text)).toBe(ok));
  it.each([['localhost', true], ['127.0.0.1', true], ['127.255.0.9', true], ['::1', true], ['0:0:0:0:0:0:0:1', true], ['128.0.0.1', false], ['127.999.0.1', false], ['db.example', false]])('isLoopbackAddress(%j) is %s', (text, ok) => expect(isLoopbackAddress(text)).toBe(ok));
});
