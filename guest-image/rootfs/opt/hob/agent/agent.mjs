/**
 * /opt/hob/agent/agent.mjs: starts the guest agent, the CommonJS bundle next to this file
 * (agent.cjs), with the V8 code cache the image build wrote for it (agent.cjs.cache), so that
 * a boot does not parse and compile the whole bundle again (docs/architecture.md §28). Node 20
 * has no module compile cache; vm.Script takes one. A cache that is missing or that V8
 * rejects (another Node, other flags) only costs the compile it would have saved.
 *
 * HOB_AGENT_WRITE_CODE_CACHE=1 (the image build, never the guest): evaluate the bundle
 * without starting the agent, then write the cache.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const dir = dirname(fileURLToPath(import.meta.url));
const bundle = join(dir, 'agent.cjs');
const cacheFile = `${bundle}.cache`;
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
// The same wrapper Node gives a CommonJS file; it keeps the bundle's line numbers.
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`, {
  filename: bundle,
  cachedData,
});
globalThis.__hobAgentCodeCache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
const module = { exports: {} };
script.runInThisContext().call(module.exports, module.exports, createRequire(bundle), module, bundle, dir);
if (process.env.HOB_AGENT_WRITE_CODE_CACHE === '1') writeFileSync(cacheFile, script.createCachedData(), { mode: 0o644 });
