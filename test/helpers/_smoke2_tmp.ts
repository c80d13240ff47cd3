import { createApi } from '../../daemon/api/app.js';
import { serveApi } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { openDatabase } from '../../daemon/db/open.js';
import { startHostAgent, oneSandboxService } from './host-agent.js';
import { connect } from 'node:net';
const agent = await startHostAgent();
const db = openDatabase(agent.dir + '/hob.db');
const tokens = new TokenStore(db);
const token = tokens.create('t').token;
const sessions = new SessionRegistry();
const port = 17708;
const api = createApi({ sandboxes: oneSandboxService('dev', agent.client), sessions, tokens, port, version: '0.1.0' });
const servers = await serveApi(api, { tcpPort: port });
try {
  const t0 = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/v1/sprites/dev/exec?cmd=sh&cmd=-c&cmd=cat%3B%20echo%20done%20%3E%262&path=sh&stdin=true`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: 'piped' });
  const reader = res.body!.getReader();
  for (;;) { const { done, value } = await reader.read(); if (done) break; console.log(Date.now() - t0, JSON.stringify(Buffer.from(value).toString('latin1'))); }
  // raw
  const sock = connect(port, '127.0.0.1');
  const t1 = Date.now();
  sock.on('data', (d) => console.log('raw', Date.now() - t1, JSON.stringify(d.toString('latin1'))));
  sock.write(`POST /v1/sprites/dev/exec?cmd=sh&cmd=-c&cmd=cat%3B%20echo%20done%20%3E%262&path=sh&stdin=true HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 5\r\nConnection: close\r\n\r\npiped`);
  await new Promise((r) => sock.on('close', r));
} finally {
  await servers.close();
  sessions.shutdown('x');
  await agent.stop();
}
