// Every public method of the official Sprites JS SDK (@fly/sprites) against hob, as a
// user program would call it. Run inside hobd's network namespace:
//   node --experimental-websocket sprites-parity.mjs
// Env: HOB_URL, HOB_TOKEN, SANDBOX (PARITY_LOG: a file that gets each call as it starts, and the
// result; for debugging a run that hangs). Prints one JSON object: `methods` maps every
// public method ("Class.method") to what it did against hob, plus what was seen.
import { appendFileSync } from 'node:fs';
import { connect } from 'node:net';
import { SpriteFilesystem, Sprite, SpritesClient } from '@fly/sprites';

const token = process.env.HOB_TOKEN;
const baseURL = process.env.HOB_URL;
const name = process.env.SANDBOX;
const client = new SpritesClient(token, { baseURL, timeout: 300_000 });
const out = { methods: {}, seen: {} };
const seen = out.seen;

/** Records what `fn` did as `method`'s outcome: "works", or "error: <message>" for a refusal. */
async function call(method, fn) {
  const line = `${new Date().toISOString()} ${method}\n`;
  process.stderr.write(line);
  if (process.env.PARITY_LOG) appendFileSync(process.env.PARITY_LOG, line);
  try {
    const value = await fn();
    out.methods[method] ??= 'works';
    return value;
  } catch (err) {
    out.methods[method] = `error: ${err?.statusCode ? `${err.statusCode} ` : ''}${err?.code ? `${err.code} ` : ''}${err?.message ?? String(err)}`;
    return undefined;
  }
}
/** Marks methods as exercised by another one's call (a delegate). */
const alias = (method, of) => {
  out.methods[method] = out.methods[of];
};
/** The next item of an SDK stream (NDJSON or websocket watcher), or "timeout". */
const nextWithin = (stream, ms) => Promise.race([stream.next(), new Promise((resolve) => setTimeout(() => resolve('timeout'), ms))]);
async function until(stream, predicate, ms = 120_000) {
  const end = Date.now() + ms;
  for (;;) {
    const item = await nextWithin(stream, Math.max(1, end - Date.now()));
    if (item === 'timeout' || item === null || predicate(item)) return item;
  }
}
const readAll = async (stream) => {
  const items = [];
  for (let m = await stream.next(); m !== null; m = await stream.next()) items.push(m);
  return items;
};
const output = (proc) =>
  new Promise((resolve) => {
    let text = '';
    proc.stdout.on('data', (d) => (text += d.toString()));
    proc.on('exit', (code) => resolve({ code, text }));
  });

// The SDK's public surface, as its classes have it (private helpers left out): the denominator.
const PRIVATE = new Set(['constructor', 'fetch', 'readJSON:client', 'buildURL', 'getHeaders', 'handleError', 'baseURL']);
const publicOf = (cls, label, key = '') =>
  Object.getOwnPropertyNames(cls.prototype)
    .filter((m) => !PRIVATE.has(m) && !PRIVATE.has(`${m}${key}`))
    .map((m) => `${label}.${m}`);
out.surface = [
  ...publicOf(SpritesClient, 'SpritesClient', ':client'),
  ...Object.getOwnPropertyNames(SpritesClient).filter((m) => typeof SpritesClient[m] === 'function').map((m) => `SpritesClient.${m}`),
  ...publicOf(Sprite, 'Sprite'),
  ...publicOf(SpriteFilesystem, 'SpriteFilesystem'),
].sort();

// ------------------------------------------------------------ the sprite and the list
const listWatch = await call('SpritesClient.watchSprites', () => client.watchSprites({ prefix: name }));
const sprite = await call('SpritesClient.createSprite', () => client.createSprite(name));
seen.createdStatus = sprite.status;
seen.handle = await call('SpritesClient.sprite', async () => client.sprite(name).name);
seen.got = (await call('SpritesClient.getSprite', () => client.getSprite(name))).name;
seen.listed = (await call('SpritesClient.listSprites', () => client.listSprites({ prefix: name }))).sprites.map((s) => s.name);
seen.listedAll = (await call('SpritesClient.listAllSprites', () => client.listAllSprites(name))).map((s) => s.name);
seen.watchFirst = await until(listWatch, (e) => e.name === name);

seen.updatedLabels = (await call('SpritesClient.updateSprite', () => client.updateSprite(name, { labels: ['parity'] }))).labels;
seen.spriteUpdatedLabels = (await call('Sprite.update', () => sprite.update({ labels: ['parity', 'two'] }))).labels;
await call('SpritesClient.updateURLSettings', () => client.updateURLSettings(name, { auth: 'public' }));
await call('Sprite.updateURLSettings', () => sprite.updateURLSettings({ auth: 'sprite' }));
seen.urlAuth = (await client.getSprite(name)).urlSettings?.auth;

seen.check = await call('SpritesClient.checkSprite', () => client.checkSprite(name));
seen.spriteCheck = (await call('Sprite.check', () => sprite.check()))?.status;
await call('SpritesClient.upgradeSprite', () => client.upgradeSprite(name));
await call('Sprite.upgrade', () => sprite.upgrade());

// ------------------------------------------------------------ exec
seen.exec = (await call('Sprite.exec', () => sprite.exec('echo parity-exec'))).stdout;
seen.execFile = (await call('Sprite.execFile', () => sprite.execFile('sh', ['-c', 'echo $((6*7))']))).stdout;
seen.execFileHTTP = (await call('Sprite.execFileHTTP', () => sprite.execFileHTTP('sh', ['-c', 'cat; echo http'], { input: 'in-' }))).stdout;
seen.spawn = await call('Sprite.spawn', async () => {
  const proc = sprite.spawn('cat');
  const done = output(proc);
  const failed = new Promise((_, reject) => proc.on('error', reject));
  proc.once('spawn', () => proc.stdin.end('spawned-stdin'));
  return Promise.race([done, failed]);
});

// Sessions: a detachable TTY session, listed, attached by id, killed by id.
const session = await call('Sprite.createSession', async () => sprite.createSession('sh', ['-c', 'echo session-started; exec sleep 600']));
let sessionText = '';
session.stdout.on('data', (d) => (sessionText += d.toString()));
session.on('error', () => undefined);
const sessionExit = new Promise((resolve) => session.on('exit', resolve));
for (let i = 0; i < 600 && !sessionText.includes('session-started'); i++) await new Promise((r) => setTimeout(r, 100));
const listed = await call('Sprite.listSessions', () => sprite.listSessions());
const mine = listed.find((s) => s.command.includes('sleep 600'));
seen.sessionListed = Boolean(mine) && mine.tty === true;
const attached = await call('Sprite.attachSession', async () => {
  const a = sprite.attachSession(mine.id);
  a.on('error', () => undefined);
  let text = '';
  a.stdout.on('data', (d) => (text += d.toString()));
  const exit = new Promise((resolve) => a.on('exit', resolve));
  for (let i = 0; i < 600 && !text.includes('session-started'); i++) await new Promise((r) => setTimeout(r, 100));
  return { replayed: text.includes('session-started'), exit };
});
seen.attachReplayed = attached.replayed;
const killEvents = await call('Sprite.killSession', async () => readAll(await sprite.killSession(mine.id, 'TERM', '5s')));
seen.killTypes = killEvents.map((e) => e.type);
seen.sessionExit = await sessionExit;
seen.attachExit = await attached.exit;

// Control mode: execs over one websocket.
const controlClient = new SpritesClient(token, { baseURL, timeout: 300_000, controlMode: true });
const controlled = controlClient.sprite(name);
seen.useControlMode = await call('Sprite.useControlMode', async () => controlled.useControlMode());
seen.controlExec = (await controlled.execFile('sh', ['-c', 'echo via-control; exit 0'])).stdout;
seen.hasControlAfterExec = await call('Sprite.hasControlConnection', async () => controlled.hasControlConnection());
seen.controlOp = await call('Sprite.getControlConnection', async () => {
  const cc = await controlled.getControlConnection();
  const op = await cc.startOp('exec', { cmd: ['sh', '-c', 'echo op-out; exit 5'], stdin: true });
  let text = '';
  op.on('stdout', (d) => (text += d.toString()));
  op.sendEOF();
  return { code: await op.wait(), text };
});
await call('Sprite.closeControlConnection', async () => controlled.closeControlConnection());
seen.hasControlAfterClose = controlled.hasControlConnection();

// ------------------------------------------------------------ files
const fs = await call('Sprite.filesystem', async () => sprite.filesystem('/root'));
await call('SpriteFilesystem.mkdir', () => fs.mkdir('parity/sub', { recursive: true }));
await call('SpriteFilesystem.writeFile', () => fs.writeFile('parity/a.txt', 'alpha\n'));
await call('SpriteFilesystem.appendFile', () => fs.appendFile('parity/a.txt', 'beta\n'));
seen.readFile = await call('SpriteFilesystem.readFile', () => fs.readFile('parity/a.txt', 'utf8'));
await call('SpriteFilesystem.writeJSON', () => fs.writeJSON('parity/j.json', { x: 1 }));
seen.readJSON = await call('SpriteFilesystem.readJSON', () => fs.readJSON('parity/j.json'));
await call('SpriteFilesystem.rename', () => fs.rename('parity/j.json', 'parity/k.json'));
seen.readdir = await call('SpriteFilesystem.readdir', () => fs.readdir('parity'));
const stat = await call('SpriteFilesystem.stat', () => fs.stat('parity/a.txt'));
seen.stat = { size: stat.size, isFile: stat.isFile() };
seen.exists = await call('SpriteFilesystem.exists', async () => [await fs.exists('parity/a.txt'), await fs.exists('parity/nope')]);
await call('SpriteFilesystem.copyFile', () => fs.copyFile('parity/a.txt', 'parity/sub/b.txt'));
seen.copied = await fs.readFile('parity/sub/b.txt', 'utf8');
await call('SpriteFilesystem.copyFile', () => fs.copyFile('parity', '/root/parity2', { recursive: true, preserveAttrs: true }));
seen.copiedTree = await fs.readdir('/root/parity2/sub');
seen.copyDirError = await fs.copyFile('parity', '/root/parity3').then(() => 'copied', (err) => `${err.code}: ${err.message}`);
seen.copyMissing = await fs.copyFile('parity/none', '/root/x').then(() => 'copied', (err) => err.code);
await call('SpriteFilesystem.chmod', () => fs.chmod('parity/a.txt', 0o600));
seen.mode = (await fs.stat('parity/a.txt')).mode & 0o777;
await call('SpriteFilesystem.chown', () => fs.chown('parity/a.txt', { uid: 'nobody', gid: 65534 }));
seen.owner = (await sprite.exec('stat -c %U:%g /root/parity/a.txt')).stdout.trim();
seen.chownBadUser = await fs.chown('parity/a.txt', { uid: 'no-such-user' }).then(() => 'changed', (err) => err.code);
await call('SpriteFilesystem.rm', () => fs.rm('/root/parity2', { recursive: true }));
seen.removed = !(await fs.exists('/root/parity2'));
seen.watch = await call('SpriteFilesystem.watch', async () => {
  const watcher = await fs.watch('parity');
  const first = await nextWithin(watcher, 30_000);
  watcher.close();
  if (first?.type === 'error') throw new Error(first.message);
  return first;
});

// ------------------------------------------------------------ services, ports, proxy
const ports = await call('Sprite.watchPorts', () => sprite.watchPorts());
seen.portList = (await nextWithin(ports, 60_000))?.type;
const ECHO = "require('net').createServer((s)=>{s.on('error',()=>{});s.pipe(s)}).listen(3000,()=>console.log('echo-listening'))";
seen.serviceCreate = (await call('Sprite.createService', async () => readAll(await sprite.createService('echo', { cmd: '/opt/hob/node', args: ['-e', ECHO] }, '3s')))).map((e) => e.type);
seen.portOpened = await until(ports, (e) => e.type === 'port_opened' && e.port === 3000);
ports.close();
seen.services = (await call('Sprite.listServices', () => sprite.listServices())).map((s) => s.name);
seen.service = (await call('Sprite.getService', () => sprite.getService('echo'))).state?.status;
seen.logs = (await call('Sprite.getServiceLogs', async () => readAll(await sprite.getServiceLogs('echo', { lines: 10 })))).some((e) => String(e.data ?? '').includes('echo-listening'));

// The SDK's proxy closes the websocket as soon as the local side ends (no half-close): end after the echo.
const echoThrough = (port) =>
  new Promise((resolve) => {
    const message = 'through-the-proxy';
    const socket = connect(port, 'localhost', () => socket.write(message));
    let text = '';
    const timer = setTimeout(() => socket.destroy(), 60_000);
    socket.on('data', (d) => {
      text += d.toString();
      if (text.length >= message.length) socket.end();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on('error', (err) => resolve(`error: ${err.message}`));
  });
seen.proxyPort = await call('Sprite.proxyPort', async () => {
  const proxy = await sprite.proxyPort(15000, 3000);
  try {
    return await echoThrough(15000);
  } finally {
    proxy.close();
  }
});
seen.proxyPorts = await call('Sprite.proxyPorts', async () => {
  const proxies = await sprite.proxyPorts([{ localPort: 15001, remotePort: 3000 }]);
  try {
    return await echoThrough(15001);
  } finally {
    for (const p of proxies) p.close();
  }
});

await call('Sprite.signalService', () => sprite.signalService('echo', 'HUP'));
seen.serviceRestart = (await call('Sprite.restartService', async () => readAll(await sprite.restartService('echo', '2s')))).map((e) => e.type);
seen.serviceStop = (await call('Sprite.stopService', async () => readAll(await sprite.stopService('echo', '5s')))).map((e) => e.type);
seen.serviceStart = (await call('Sprite.startService', async () => readAll(await sprite.startService('echo', '2s')))).map((e) => e.type);
await call('Sprite.deleteService', () => sprite.deleteService('echo'));
seen.servicesAfter = (await sprite.listServices()).map((s) => s.name);

// ------------------------------------------------------------ policies
seen.network = await call('Sprite.getNetworkPolicy', () => sprite.getNetworkPolicy());
await call('Sprite.updateNetworkPolicy', () => sprite.updateNetworkPolicy({ rules: [] }));
seen.privileges = await call('Sprite.getPrivilegesPolicy', () => sprite.getPrivilegesPolicy());
await call('Sprite.updatePrivilegesPolicy', () => sprite.updatePrivilegesPolicy({ profile: 'privileged' }));
seen.privilegesRefused = await sprite.updatePrivilegesPolicy({ profile: 'minimal', noNewPrivileges: true }).then(() => 'accepted', (err) => err.message);
await call('Sprite.deletePrivilegesPolicy', () => sprite.deletePrivilegesPolicy());

seen.resources = await call('Sprite.getResourcesPolicy', () => sprite.getResourcesPolicy());
seen.resizeRunning = await sprite.updateResourcesPolicy({ memory: { limitMB: 384 } }).then(() => 'accepted', (err) => err.message);
const stopped = await fetch(`${baseURL}/v1/sprites/${name}/stop`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
seen.stoppedStatus = (await stopped.json()).status;
await call('Sprite.updateResourcesPolicy', () => sprite.updateResourcesPolicy({ memory: { limitMB: 384 } }));
seen.resized = (await sprite.getResourcesPolicy()).memory?.limitMB;
await call('Sprite.deleteResourcesPolicy', () => sprite.deleteResourcesPolicy());
seen.resetTo = (await sprite.getResourcesPolicy()).memory?.limitMB;
await sprite.updateResourcesPolicy({ memory: { limitMB: 384 } });
seen.restart = await call('Sprite.restart', () => sprite.restart());
alias('SpritesClient.restartSprite', 'Sprite.restart');
seen.memTotalKiB = Number((await sprite.exec('grep MemTotal /proc/meminfo')).stdout.split(/\s+/)[1]);
seen.checkAfterRestart = (await client.checkSprite(name)).status;

// Checkpoints (create, list, get, restore) are sprites-client.mjs's: a restore costs a boot.

// ------------------------------------------------------------ the end
await call('Sprite.destroy', () => sprite.destroy());
alias('Sprite.delete', 'Sprite.destroy');
alias('SpritesClient.deleteSprite', 'Sprite.destroy');
seen.deleteAgain = await client.deleteSprite(name).then(() => 'deleted', (err) => err.statusCode);
seen.watchDeleted = (await until(listWatch, (e) => e.type === 'deleted' && e.name === name, 60_000))?.type;
listWatch.close();
// Static and aimed at api.sprites.dev whatever the client's baseURL: not called (tests send nothing off the box).
out.methods['SpritesClient.createToken'] = 'not applicable: posts a Fly.io macaroon to https://api.sprites.dev, whatever baseURL says; hob tokens come from `hob token create`';

process.stdout.write(JSON.stringify(out));
if (process.env.PARITY_LOG) appendFileSync(process.env.PARITY_LOG, `${JSON.stringify(out, null, 1)}\n`);
process.exit(0);
