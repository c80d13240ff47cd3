/**
 * git over HTTPS through the secret proxy (docs/architecture.md §11): the
 * placeholder is the password in the clone URL, the fake upstream serves a
 * repository with `git http-backend` behind Basic auth that accepts only the
 * real value (helpers/net/git-http.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serveGit } from '../helpers/net/git-http.js';
import { startFixture, type Fixture } from '../helpers/secret-proxy.js';

const VALUE = 'ghp_REALtokenValue0123456789';

describe('git clone through the secret proxy', () => {
  let f: Fixture;

  beforeEach(async () => {
    f = await startFixture();
    f.store.set({ name: 'github', hosts: ['git.test'], value: VALUE });
    f.pinned.add('git.test');
  });
  afterEach(async () => { await f.close(); });

  it('clones with the placeholder as password; the real value reaches only the server', async () => {
    const ph = f.store.grant(f.sandboxId, 'github', 'GH_TOKEN').placeholder;
    const root = join(f.dir, 'repos');
    const work = join(f.dir, 'work');
    await mkdir(work, { recursive: true });
    const caFile = join(f.dir, 'sandbox-ca.pem');
    // Only what the guest would have: its trust store holds the sandbox CA (GIT_SSL_CAINFO, as the guest image will set it).
    const git = (cwd: string, ...args: string[]) => execa('git', args, {
      cwd, extendEnv: false,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_TERMINAL_PROMPT: '0', HOME: f.dir, GIT_CONFIG_NOSYSTEM: '1', GIT_SSL_CAINFO: caFile },
    });
    await git(work, 'init', '-q', '-b', 'main');
    await writeFile(join(work, 'README'), 'hello through the proxy\n');
    await git(work, 'add', 'README');
    await git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'first');
    await mkdir(root);
    await git(f.dir, 'clone', '-q', '--bare', work, join(root, 'repo.git'));
    f.handlers.set('/repo.git/', (req, res, _body, raw) => serveGit(req, res, raw, { root, password: VALUE }));
    await writeFile(caFile, f.ca.certPem);

    const url = `https://x-access-token:${ph}@git.test:${f.proxyPort}/repo.git`;
    await git(f.dir, '-c', `http.curloptResolve=git.test:${f.proxyPort}:127.0.0.1`, 'clone', '-q', url, 'clone');
    const { stdout } = await git(join(f.dir, 'clone'), 'log', '--format=%s');
    expect(stdout).toBe('first');
    expect(f.audit.filter((e) => e.type === 'secret.substituted').map((e) => [e.secret, e.host])).toContainEqual(['github', 'git.test']);
    expect(JSON.stringify(f.audit)).not.toContain(VALUE);

    // Without a grant the placeholder is just a wrong password.
    f.store.revoke(f.sandboxId, 'github');
    await expect(git(f.dir, '-c', `http.curloptResolve=git.test:${f.proxyPort}:127.0.0.1`, 'clone', '-q', url, 'clone2')).rejects.toThrow();
  });
});
