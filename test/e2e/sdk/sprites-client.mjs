// Drives hob with the official Sprites JS SDK (@fly/sprites), as a user program would.
// Run inside hobd's network namespace: node --experimental-websocket sprites-client.mjs
// Env: HOB_URL, HOB_TOKEN, SANDBOX. Prints one JSON object with what it saw.
import { SpritesClient } from '@fly/sprites';

const client = new SpritesClient(process.env.HOB_TOKEN, { baseURL: process.env.HOB_URL, timeout: 300_000 });
const name = process.env.SANDBOX;
const out = {};

const sprite = await client.createSprite(name);
out.createdName = sprite.name;
out.listed = (await client.listSprites()).sprites.map((s) => s.name);
out.got = (await client.getSprite(name)).name;

const echo = await sprite.exec('echo hello-from-sdk');
out.execStdout = String(echo.stdout);
out.execExitCode = echo.exitCode;
try {
  await sprite.execFile('sh', ['-c', 'exit 3']);
  out.failingExit = 'no error';
} catch (err) {
  out.failingExit = err.exitCode ?? String(err);
}

const tty = sprite.spawn('sh', ['-c', 'test -t 0 && echo is-a-tty; stty size'], { tty: true, rows: 33, cols: 101 });
let ttyOut = '';
tty.stdout.on('data', (d) => { ttyOut += d.toString(); });
out.ttyExit = await new Promise((resolve) => tty.on('exit', resolve));
out.ttyOutput = ttyOut;

const fs = sprite.filesystem('/');
await fs.writeFile('/root/sdk.txt', 'written by the sdk\n');
out.readBack = await fs.readFile('/root/sdk.txt', 'utf8');

// Checkpoints: create (reading the stream to its end), list, get, restore.
const readAll = async (stream) => {
  const messages = [];
  for (let m = await stream.next(); m !== null; m = await stream.next()) messages.push(m);
  return messages;
};
const created = await readAll(await sprite.createCheckpoint('from the sdk'));
out.checkpointLast = created.at(-1);
out.checkpoints = (await sprite.listCheckpoints()).map((c) => ({ id: c.id, comment: c.comment, isDate: c.createTime instanceof Date && !Number.isNaN(c.createTime.getTime()) }));
out.checkpointGot = (await sprite.getCheckpoint('v1')).id;
await fs.writeFile('/root/sdk.txt', 'changed after the checkpoint\n');
out.restoreLast = (await readAll(await sprite.restoreCheckpoint('v1'))).at(-1);
out.afterRestore = await fs.readFile('/root/sdk.txt', 'utf8');

// Network policy: set, read back, and a bad one refused.
await sprite.updateNetworkPolicy({ rules: [{ domain: 'github.com', action: 'allow' }, { include: 'defaults' }] });
out.policy = await sprite.getNetworkPolicy();
out.badPolicy = await sprite.updateNetworkPolicy({ rules: [{ domain: 'not a name', action: 'allow' }] }).then(() => 'accepted', (err) => err.message);

await client.deleteSprite(name);
out.afterDelete = (await client.listSprites()).sprites.map((s) => s.name);
process.stdout.write(JSON.stringify(out));
