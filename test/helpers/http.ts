import http from 'node:http';

export interface HttpResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  json<T = unknown>(): T;
  text(): string;
}

export interface HttpRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer | object;
}

/** A plain HTTP request over a unix socket (hob's local API). */
export function unixRequest(socketPath: string, req: HttpRequest): Promise<HttpResult> {
  let body: Buffer | undefined;
  const headers: Record<string, string> = { ...req.headers };
  if (req.body !== undefined) {
    if (Buffer.isBuffer(req.body) || typeof req.body === 'string') {
      body = Buffer.from(req.body);
    } else {
      body = Buffer.from(JSON.stringify(req.body));
      headers['content-type'] ??= 'application/json';
    }
    headers['content-length'] = String(body.length);
  }
  return new Promise((resolve, reject) => {
    const r = http.request({ socketPath, agent: false, method: req.method ?? 'GET', path: req.path, headers: { host: 'localhost', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: buf,
          json: <T>() => JSON.parse(buf.toString('utf8')) as T,
          text: () => buf.toString('utf8'),
        });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}
