/**
 * A git smart-HTTP server for the secret proxy's tests: `git http-backend` (CGI)
 * serving the bare repositories under a root, only to a request whose Basic auth
 * carries the expected password (else 401 with a Basic challenge, so that git asks
 * its credential helper and tries again). Used on loopback
 * (test/integration/secret-proxy-git.test.ts) and in the fake internet
 * (https-upstream.ts).
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface GitHttpOptions {
  /** Directory holding the bare repositories (`<root>/org/repo.git`). */
  readonly root: string;
  /** The only password accepted. */
  readonly password: string;
}

/** The password of a Basic `authorization` header, if any. */
export function basicPassword(authorization: string | undefined): string | undefined {
  const auth = /^Basic (.+)$/.exec(authorization ?? '')?.[1];
  return auth ? Buffer.from(auth, 'base64').toString('utf8').split(':').slice(1).join(':') : undefined;
}

/** Answers one request (whose body `raw` was already read) with `git http-backend`. */
export function serveGit(req: IncomingMessage, res: ServerResponse, raw: Buffer, o: GitHttpOptions): void {
  if (basicPassword(req.headers.authorization) !== o.password) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-length': '0' });
    res.end();
    return;
  }
  const [path, query = ''] = (req.url ?? '').split('?');
  const cgi = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_PROJECT_ROOT: o.root, GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: path, QUERY_STRING: query, REQUEST_METHOD: req.method ?? 'GET', REMOTE_USER: 'git', REMOTE_ADDR: '127.0.0.1',
      CONTENT_TYPE: req.headers['content-type'] ?? '', CONTENT_LENGTH: String(raw.length),
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '', GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
    },
  });
  cgi.on('error', () => res.destroy());
  cgi.stdin.on('error', () => undefined);
  cgi.stdin.end(raw);
  let head = Buffer.alloc(0);
  let headersDone = false;
  cgi.stdout.on('data', (c: Buffer) => {
    if (headersDone) return void res.write(c);
    head = Buffer.concat([head, c]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      if (k === 'status') status = Number(v.split(' ')[0]);
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end + 4));
  });
  cgi.stdout.on('end', () => res.end());
}
