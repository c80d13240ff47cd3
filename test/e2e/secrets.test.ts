/**
 * Secrets that never enter the sandbox, on a real VM (issue 17, docs/architecture.md §11).
 * hobd runs with the fake internet (net/internet.ts); a fake HTTPS upstream with its own CA
 * (net/https-upstream.ts) serves web.example, a.web.example and other.example there, and
 * hobd's secret proxy trusts that CA (`secrets.upstreamCaFile`). Inside the guest, the
 * image's Node makes the requests with the placeholder, and the image's git clones from
 * github.com, which the fake internet resolves to the same upstream serving a repository
 * over smart HTTP behind Basic auth (net/git-http.ts), exactly as the README's setup says:
 * a `github` secret granted as GITHUB_TOKEN, which the image's credential helper
 * (/etc/gitconfig) hands to git.
 *
 * One daemon; `s1` carries the cases in order, `f1` (a fork of a live checkpoint) comes last.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { SandboxCa } from '../../daemon/net/secret-proxy/index.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { basicPassword } from '../helpers/net/git-http.js';
import { WEB } from '../helpers/net/internet.js';
import { startRpc, type RpcProcess } from '../helpers/net/rpc.js';
import { sandboxShell } from '../helpers/sandbox-exec.js';

interface Received {
  sni: string | undefined;
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
  body: string;
}
interface ProbeResult {
  status?: number;
  issuer?: string;
  body?: string;
  error?: string;
}

/** Requests made from the guest with Node; prints one JSON object of results. */
const PROBE = `
import https from 'node:https';
const PH = process.env.TEST_TOKEN ?? 'none';
const mode = process.argv[2];
function req(host, path, o = {}) {
  return new Promise((resolve) => {
    const headers = { ...(o.headers ?? {}) };
    if (o.hostHeader) headers.host = o.hostHeader;
    const r = https.request({ host, servername: host, path, method: o.method ?? 'GET', headers, rejectUnauthorized: !o.insecure, agent: false }, (res) => {
      const cert = res.socket.getPeerCertificate();
      let body = '';
      res.on('data', (d) => { body += d; if (o.onData) o.onData(String(d)); });
      res.on('end', () => resolve({ status: res.statusCode, issuer: cert && cert.issuer ? cert.issuer.CN : undefined, body }));
    });
    r.on('error', (e) => resolve({ error: e.message }));
    r.setTimeout(60000, () => r.destroy(new Error('timeout')));
    r.end(o.body);
  });
}
const out = {};
if (mode === 'all') {
  out.header = await req('web.example', '/header', { headers: { authorization: 'Bearer ' + PH } });
  out.query = await req('web.example', '/query?key=' + PH + '&x=1');
  out.json = await req('web.example', '/json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: PH, n: 1 }) });
  out.basic = await req('web.example', '/basic', { headers: { authorization: 'Basic ' + Buffer.from('git:' + PH).toString('base64') } });
  out.mismatch = await req('web.example', '/mismatch', { hostHeader: 'a.web.example', headers: { authorization: 'Bearer ' + PH } });
  out.other = await req('other.example', '/other', { insecure: true, headers: { authorization: 'Bearer ' + PH } });
} else if (mode === 'header') {
  // Insecure: once no secret is granted the connection goes straight to the upstream, whose CA the guest does not trust.
  out.header = await req('web.example', '/header', { insecure: true, headers: { authorization: 'Bearer ' + PH } });
} else if (mode === 'sse') {
  const pieces = [];
  let released = false;
  out.sse = await req('web.example', '/sse', { onData: (d) => {
    pieces.push(d);
    if (!released) { released = true; out.release = req('web.example', '/release'); }
  } });
  out.release = await out.release;
  out.pieces = pieces;
}
console.log(JSON.stringify(out));
`;

/**
 * For each needle, the files under `dir` whose bytes contain it, in one pass read as a
 * stream in 4 MiB pieces (grep -a would hold a sparse disk's newline-free gigabytes as
 * one line in memory). Only the seams between pieces are copied.
 */
async function filesContaining(dir: string, needles: readonly string[]): Promise<string[][]> {
  const bufs = needles.map((n) => Buffer.from(n));
  const keep = Math.max(...bufs.map((b) => b.length)) - 1;
  const found: string[][] = needles.map(() => []);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const hit = bufs.map(() => false);
    let tail = Buffer.alloc(0);
    for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
      const c = chunk as Buffer;
      const seam = Buffer.concat([tail, c.subarray(0, keep)]);
      bufs.forEach((b, i) => { if (!hit[i] && (c.includes(b) || seam.includes(b))) hit[i] = true; });
      tail = Buffer.from(c.subarray(Math.max(0, c.length - keep)));
    }
    hit.forEach((h, i) => { if (h) found[i]!.push(path); });
  }
  return found;
}

describe('secrets on a real VM', () => {
  let d: TestDaemon;
  let upstream: RpcProcess;
  let dir: string;
  let upstreamCa: SandboxCa;
  let placeholder = '';
  let liveCheckpoint = '';
  let diskCheckpoint = '';
  const value = `sk-e2e-${randomBytes(16).toString('hex')}`;
  const ghValue = `ghp_e2e${randomBytes(16).toString('hex')}`;
  const { exec, ok } = sandboxShell(() => d);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-secrets-e2e-'));
    upstreamCa = await SandboxCa.create('upstream');
    await writeFile(join(dir, 'upstream-ca.pem'), upstreamCa.certPem);
    // A 1 GiB disk: the test reads the disk and checkpoint images whole, holes included.
    // The repository the fake github.com serves: org/repo.git, one commit.
    const git = (cwd: string, ...args: string[]) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd });
    await mkdir(join(dir, 'work'));
    await git(join(dir, 'work'), 'init', '-q', '-b', 'main');
    await writeFile(join(dir, 'work', 'README'), 'cloned through the secret proxy\n');
    await git(join(dir, 'work'), 'add', 'README');
    await git(join(dir, 'work'), 'commit', '-q', '-m', 'first');
    await git(dir, 'clone', '-q', '--bare', join(dir, 'work'), join(dir, 'git', 'org', 'repo.git'));
    d = await startTestDaemon({ internet: true, diskGiB: 1, configLines: [`secrets: { upstreamCaFile: ${join(dir, 'upstream-ca.pem')} }`] });
    upstream = await startRpc(d.internet!.netns.name, 'test/helpers/net/https-upstream.ts', [JSON.stringify({
      addresses: [WEB.web, WEB.other, WEB.sub, WEB.github], ca: upstreamCa.material(), git: { root: join(dir, 'git'), password: ghValue },
    })]);
  });
  afterAll(async () => {
    await upstream?.kill();
    await d?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const take = (): Promise<Received[]> => upstream.call<Received[]>('take');
  const probe = async (name: string, mode: string): Promise<Record<string, ProbeResult> & { pieces?: string[] }> => {
    const out = await ok(name, `/opt/hob/node /root/probe.mjs ${mode}`);
    return JSON.parse(out) as Record<string, ProbeResult> & { pieces?: string[] };
  };
  const events = (type: string): Array<{ data: Record<string, unknown> }> => {
    const db = new Database(join(d.stateDir, 'hob.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT data FROM events WHERE type = ? ORDER BY id').all(type) as Array<{ data: string }>).map((r) => ({ data: JSON.parse(r.data) as Record<string, unknown> }));
    } finally {
      db.close();
    }
  };

  it('refuses bad input with 400/404 and stores nothing', async () => {
    const put = (name: string, body: object) => d.request({ method: 'PUT', path: `/v1/secrets/${name}`, body });
    expect((await put('9bad', { hosts: ['web.example'], value: 'x' })).status).toBe(400);
    expect((await put('tok', { hosts: ['*'], value: 'x' })).status).toBe(400);
    expect((await put('tok', { hosts: ['10.0.0.1'], value: 'x' })).status).toBe(400);
    expect((await put('tok', { hosts: [], value: 'x' })).status).toBe(400);
    expect((await put('tok', { hosts: ['web.example'], value: 'x'.repeat(9000) })).status).toBe(400);
    const newline = await put('tok', { hosts: ['web.example'], value: `${value}\n` });
    expect(newline.status).toBe(400);
    expect(newline.text()).not.toContain(value);
    expect((await d.request({ method: 'DELETE', path: '/v1/secrets/nope' })).status).toBe(404);
    expect((await d.request({ method: 'POST', path: '/v1/sandboxes/nobody/secrets', body: { secret: 'nope' } })).status).toBe(404);
    const ls = await d.request({ path: '/v1/secrets' });
    expect(ls.json<{ secrets: unknown[] }>().secrets).toEqual([]);
  });

  it('sets a secret from the CLI (value from the environment) and creates a sandbox with it granted', async () => {
    const set = await d.cli(['secrets', 'set', 'tok', '--host', 'web.example', '--value-from-env', 'E2E_VALUE', '--json'], { env: { E2E_VALUE: value } });
    expect(set.exitCode, set.stderr).toBe(0);
    expect(set.stdout).not.toContain(value);
    expect(JSON.parse(set.stdout)).toMatchObject({ name: 'tok', hosts: ['web.example'] });
    const ls = await d.cli(['secrets', 'ls', '--json']);
    expect(ls.stdout).not.toContain(value);
    // An unknown secret in a create is refused before anything is made.
    const bad = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 's0', secrets: [{ secret: 'nope' }] } });
    expect(bad.status, bad.text()).toBe(404);
    expect((await d.request({ path: '/v1/sandboxes/s0' })).status).toBe(404);

    const created = await d.cli(['create', 's1', '--secret', 'tok=TEST_TOKEN', '--json']);
    expect(created.exitCode, created.stderr).toBe(0);
    const grants = await d.cli(['secrets', 'grants', 's1', '--json']);
    const list = JSON.parse(grants.stdout) as Array<{ secret: string; env: string; placeholder: string }>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ secret: 'tok', env: 'TEST_TOKEN' });
    placeholder = list[0]!.placeholder;
    expect(placeholder).toMatch(/^hob-secret-[a-z0-9]+-[a-z2-7]{26}$/);
    // Bad grants: a bad variable, a second grant, an unknown secret.
    expect((await d.request({ method: 'POST', path: '/v1/sandboxes/s1/secrets', body: { secret: 'tok', env: '1X' } })).status).toBe(400);
    expect((await d.request({ method: 'POST', path: '/v1/sandboxes/s1/secrets', body: { secret: 'tok', env: 'OTHER' } })).status).toBe(409);
    expect((await d.request({ method: 'POST', path: '/v1/sandboxes/s1/secrets', body: { secret: 'nope' } })).status).toBe(404);
  });

  it('gives the guest the placeholder and the CA, never the value', async () => {
    const env = await ok('s1', 'env');
    expect(env).toContain(`TEST_TOKEN=${placeholder}`);
    expect(env).toContain('NODE_EXTRA_CA_CERTS=/etc/hob/secret-proxy-ca.pem');
    expect(env).not.toContain(value);
    expect(await ok('s1', 'cat /etc/hob/secrets.env')).toContain(`TEST_TOKEN=${placeholder}`);
    expect(await ok('s1', 'grep -c "hob secret proxy CA (begin)" /etc/ssl/certs/ca-certificates.crt')).toBe('1\n');
    const w = await d.request({ method: 'PUT', path: '/v1/sandboxes/s1/fs/write?path=/root/probe.mjs', body: Buffer.from(PROBE) });
    expect(w.status, w.text()).toBe(200);
  });

  it('puts the value into a header, a query, a JSON body and Basic auth toward the secret host only', async () => {
    await take();
    const r = await probe('s1', 'all');
    for (const k of ['header', 'query', 'json', 'basic', 'mismatch', 'other']) expect(r[k]?.status, `${k}: ${JSON.stringify(r[k])}`).toBe(200);
    // The secret host shows the sandbox CA's leaf (the guest trusts it), the other host its own certificate.
    expect(r.header?.issuer).toMatch(/^hob secret proxy CA /);
    expect(r.other?.issuer).toBe('hob secret proxy CA upstream');
    const got = await take();
    const at = (url: string): Received => {
      const hit = got.find((g) => g.url.startsWith(url));
      expect(hit, `${url} in ${JSON.stringify(got.map((g) => g.url))}`).toBeDefined();
      return hit!;
    };
    expect(at('/header').headers.authorization).toBe(`Bearer ${value}`);
    expect(at('/query').url).toBe(`/query?key=${value}&x=1`);
    expect(JSON.parse(at('/json').body)).toEqual({ key: value, n: 1 });
    expect(Buffer.from((at('/basic').headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString()).toBe(`git:${value}`);
    // A Host header that is not the server name: no substitution.
    expect(at('/mismatch').headers.authorization).toBe(`Bearer ${placeholder}`);
    // A host no secret is for: the connection is not even intercepted, the placeholder arrives as it is.
    expect(at('/other').headers.authorization).toBe(`Bearer ${placeholder}`);
    expect(at('/other').sni).toBe('other.example');

    const used = events('secret-used');
    expect(used.map((e) => e.data.path)).toEqual(expect.arrayContaining(['/header', '/query', '/json', '/basic']));
    expect(used[0]?.data).toMatchObject({ secret: 'tok', host: 'web.example', method: 'GET', status: 200 });
    expect(events('secret-blocked').map((e) => e.data)).toEqual(expect.arrayContaining([expect.objectContaining({ secret: 'tok', path: '/mismatch', hostHeader: 'a.web.example' })]));
    expect(JSON.stringify([...used, ...events('secret-blocked')])).not.toContain(value);
  });

  it('git clones from github.com with a granted GITHUB_TOKEN; the placeholder toward another host stays one', async () => {
    const set = await d.cli(['secrets', 'set', 'github', '--host', 'github.com', '--value-from-env', 'GITHUB_TOKEN', '--json'], { env: { GITHUB_TOKEN: ghValue } });
    expect(set.exitCode, set.stderr).toBe(0);
    const granted = await d.cli(['secrets', 'grant', 's1', 'github', '--env', 'GITHUB_TOKEN', '--json']);
    expect(granted.exitCode, granted.stderr).toBe(0);
    const ghPlaceholder = (JSON.parse(granted.stdout) as { placeholder: string }).placeholder;
    await take();
    // What the README says: no token in the URL; the image's credential helper hands git $GITHUB_TOKEN.
    const cloned = await exec('s1', 'cd /root && GIT_TERMINAL_PROMPT=0 git clone -q https://github.com/org/repo.git && git -C repo log --format=%s && cat repo/README');
    expect(cloned.exit_code, cloned.stderr).toBe(0);
    expect(cloned.stdout).toBe('first\ncloned through the secret proxy\n');
    const fromGithub = (await take()).filter((g) => g.sni === 'github.com');
    // git asks without credentials first (401), then with them: every Basic password that arrived is the real token.
    const passwords = fromGithub.map((g) => basicPassword(g.headers.authorization)).filter((p) => p !== undefined);
    expect(passwords.length, JSON.stringify(fromGithub.map((g) => g.url))).toBeGreaterThan(0);
    expect(new Set(passwords)).toEqual(new Set([ghValue]));
    expect(await ok('s1', 'cat /root/repo/.git/config')).not.toContain(ghPlaceholder);

    // Toward a host the secret is not for, the placeholder is only a wrong password: not intercepted, not replaced.
    const other = await exec('s1', 'cd /root && GIT_TERMINAL_PROMPT=0 git -c http.sslVerify=false clone -q "https://x-access-token:$GITHUB_TOKEN@other.example/org/repo.git" other');
    expect(other.exit_code).not.toBe(0);
    expect(other.stderr).toMatch(/Authentication failed|401/);
    const toOther = (await take()).filter((g) => g.sni === 'other.example').map((g) => basicPassword(g.headers.authorization));
    expect(toOther).toContain(ghPlaceholder);
    expect(toOther).not.toContain(ghValue);
  });

  it('streams server-sent events: the first piece arrives before the upstream finishes', async () => {
    const r = await probe('s1', 'sse');
    expect(r.sse?.status).toBe(200);
    expect(r.release?.status).toBe(200);
    // The upstream sends "last" only after /release, which the guest asks for on receiving "first".
    expect(r.pieces?.[0]).toBe('data: first\n\n');
    expect(r.pieces?.join('')).toBe('data: first\n\ndata: last\n\n');
  });

  it('keeps the value out of the disk image and a memory checkpoint', async () => {
    await ok('s1', 'sync');
    const cp = await d.request({ method: 'POST', path: '/v1/sandboxes/s1/checkpoint', body: { memory: true } });
    expect(cp.status, cp.text()).toBe(200);
    liveCheckpoint = /Checkpoint (v\d+) created/.exec(cp.text())?.[1] ?? '';
    expect(liveCheckpoint, cp.text()).not.toBe('');
    const id = (await d.request({ path: '/v1/sandboxes/s1' })).json<{ id: string }>().id;
    for (const where of [join(d.stateDir, 'pool', 'sandboxes', id), join(d.stateDir, 'pool', 'checkpoints', id)]) {
      // Control: the placeholder is there (the guest's env file, its memory), the value is not.
      const [withPlaceholder, withValue, withGhValue] = await filesContaining(where, [placeholder, value, ghValue]);
      expect(withPlaceholder, where).not.toEqual([]);
      expect(withValue, where).toEqual([]);
      expect(withGhValue, where).toEqual([]);
    }
    // For the fork below, taken while the grant holds: a disk-only one (a cold boot copes with a loaded machine better than a memory resume).
    const disk = await d.request({ method: 'POST', path: '/v1/sandboxes/s1/checkpoint', body: {} });
    diskCheckpoint = /Checkpoint (v\d+) created/.exec(disk.text())?.[1] ?? '';
    expect(diskCheckpoint, disk.text()).not.toBe('');
  });

  it('stops substituting at once when the grant is revoked', async () => {
    await take();
    const revoked = await d.cli(['secrets', 'revoke', 's1', 'tok', '--json']);
    expect(revoked.exitCode, revoked.stderr).toBe(0);
    // A new exec no longer has the variable; the placeholder, sent anyway, is no longer replaced.
    const r = await exec('s1', `TEST_TOKEN=${placeholder} /opt/hob/node /root/probe.mjs header`);
    expect(r.exit_code, r.stderr).toBe(0);
    expect((await take()).find((g) => g.url === '/header')?.headers.authorization).toBe(`Bearer ${placeholder}`);
    expect(await ok('s1', 'env')).not.toContain('TEST_TOKEN=');
  });

  it('a fork inherits no grant; one asked for at the fork gets a placeholder of its own', async () => {
    // The fork's disk holds the parent's /etc/hob/secrets.env with its placeholder; the boot replaces it.
    const f = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'f1', from: `s1:${diskCheckpoint}`, secrets: [{ secret: 'tok', env: 'TEST_TOKEN' }] } });
    expect(f.status, f.text()).toBe(201);
    const grants = (await d.request({ path: '/v1/sandboxes/f1/secrets' })).json<{ grants: Array<{ placeholder: string }> }>().grants;
    expect(grants).toHaveLength(1);
    expect(grants[0]!.placeholder).not.toBe(placeholder);
    const env = await ok('f1', 'env');
    expect(env).toContain(`TEST_TOKEN=${grants[0]!.placeholder}`);
    expect(env).not.toContain(placeholder);
    // The parent's placeholder means nothing in the fork; its own is replaced.
    await take();
    await ok('f1', `TEST_TOKEN=${placeholder} /opt/hob/node /root/probe.mjs header`);
    expect((await take()).find((g) => g.url === '/header')?.headers.authorization).toBe(`Bearer ${placeholder}`);
    await ok('f1', '/opt/hob/node /root/probe.mjs header');
    expect((await take()).find((g) => g.url === '/header')?.headers.authorization).toBe(`Bearer ${value}`);
    // Removing the secret ends it everywhere.
    expect((await d.request({ method: 'DELETE', path: '/v1/secrets/tok' })).status).toBe(204);
    expect((await d.request({ path: '/v1/sandboxes/f1/secrets' })).json<{ grants: unknown[] }>().grants).toEqual([]);
    await ok('f1', `TEST_TOKEN=${grants[0]!.placeholder} /opt/hob/node /root/probe.mjs header`);
    expect((await take()).find((g) => g.url === '/header')?.headers.authorization).toBe(`Bearer ${grants[0]!.placeholder}`);
  });
});
