import { WebSocket as WsWebSocket } from 'ws';
import { createApi } from '../../daemon/api/app.js';
import { serveApi } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { openDatabase } from '../../daemon/db/open.js';
import { startHostAgent, oneSandboxService } from './host-agent.js';
(globalThis as any).WebSocket = WsWebSocket;
const { SpritesClient } = await import('/tmp/sprites-sdk/package/dist/index.js' as string);
const agent = await startHostAgent();
const db = openDatabase(agent.dir + '/hob.db');
const tokens = new TokenStore(db);
const token = tokens.create('t').token;
const sessions = new SessionRegistry();
const port = 17707;
const api = createApi({ sandboxes: oneSandboxService('dev', agent.client), sessions, tokens, port, version: '0.1.0' });
const servers = await serveApi(api, { tcpPort: port });
try {
  const client = new SpritesClient(token, { baseURL: `http://127.0.0.1:${port}` });
  const sprite = await client.getSprite('dev');
  console.log('sprite', sprite.name, sprite.status, sprite.url);
  const r = await sprite.execFile('sh', ['-c', 'echo out; echo err >&2; exit 3']).catch((e: any) => e.result ?? e);
  console.log('execFile', JSON.stringify(r));
  const r2 = await sprite.execFile('echo', ['hello']);
  console.log('execFile2', JSON.stringify(r2));
  const r3 = await sprite.execFileHTTP('sh', ['-c', 'cat; echo done >&2'], { input: 'piped' }).catch((e: any) => e);
  console.log("execFileHTTP", r3 instanceof Error ? r3.stack : JSON.stringify(r3)); process.exit(0);
  const fs = sprite.filesystem(agent.dir);
  await fs.writeFile('a/b.txt', 'content', { mode: 0o600 });
  console.log('read', await fs.readFile('a/b.txt', 'utf8'));
  console.log('readdir', await fs.readdir('a'));
  const st = await fs.stat('a/b.txt');
  console.log('stat', st.size, st.mode.toString(8), st.isFile());
  console.log('exists', await fs.exists('nope'), await fs.exists('a/b.txt'));
  await fs.rename('a/b.txt', 'a/c.txt');
  await fs.chmod('a/c.txt', 0o644);
  await fs.mkdir('x/y', { recursive: true });
  console.log('readdir2', await fs.readdir('.'));
  await fs.rm('x', { recursive: true });
  try { await fs.readFile('nope'); } catch (e: any) { console.log('readFile err', e.code, e.message); }
  // tty
  const cmd = sprite.spawn('sh', ['-c', 'echo tty-hi; exit 2'], { tty: true });
  let out = '';
  cmd.stdout.on('data', (d: Buffer) => (out += d.toString()));
  cmd.on('message', (m: any) => console.log('msg', JSON.stringify(m)));
  const code = await cmd.wait();
  console.log('tty exit', code, JSON.stringify(out));
  console.log('sessions', JSON.stringify(await sprite.listSessions()));
  // detached session
  const long = sprite.createSession('sh', ['-c', 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.3; done']);
  let sid: string | undefined;
  long.on('message', (m: any) => { if (m.type === 'session_info') sid = m.session_id; });
  await new Promise((r) => setTimeout(r, 700));
  (long as any).wsCmd.close();
  await new Promise((r) => setTimeout(r, 300));
  console.log('after detach', JSON.stringify(await sprite.listSessions()));
  const att = sprite.attachSession(sid!);
  let aout = '';
  att.stdout.on('data', (d: Buffer) => (aout += d.toString()));
  const acode = await att.wait();
  console.log('attach exit', acode, JSON.stringify(aout));
} finally {
  await servers.close();
  sessions.shutdown('x');
  await agent.stop();
}
