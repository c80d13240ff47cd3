/**
 * Service definitions on disk, and the pid files of running services.
 *
 * Definitions: `<definitions>/<name>.json` = {version: 1, name, definition,
 * enabled}, written atomically (temp file, fsync, rename, fsync of the
 * directory), so a crash or a power-off leaves the old or the new file, never
 * a torn one. `enabled` is false after an explicit stop: such a service stays
 * stopped at the next boot.
 *
 * Pid files: `<runtime>/<name>.pid` = "<pid> <starttime>", where starttime is
 * field 22 of /proc/<pid>/stat (guards against a reused pid). A new agent
 * (the old one crashed, init restarted it) ends the process groups its
 * predecessor left, since their output pipes died with it.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { ServiceDefinitionSchema, ServiceNameSchema, type ServiceDefinition } from '../../../daemon/protocol/index.js';
import { writeFileAtomic } from '../atomic-file.js';
import { log } from '../log.js';
import { signalGroup } from '../handlers/process-group.js';

export interface StoredService {
  readonly name: string;
  readonly definition: ServiceDefinition;
  /** Started at boot (false after an explicit stop). */
  readonly enabled: boolean;
}

const FileSchema = z.object({
  version: z.literal(1),
  name: ServiceNameSchema,
  definition: ServiceDefinitionSchema,
  enabled: z.boolean().default(true),
});

/** Every valid definition in `dir`, sorted by name; unreadable files are reported in `problems` and skipped. */
export async function loadDefinitions(dir: string): Promise<{ services: StoredService[]; problems: string[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { services: [], problems: [] };
    throw err;
  }
  const services: StoredService[] = [];
  const problems: string[] = [];
  for (const file of names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()) {
    const path = join(dir, file);
    try {
      const parsed = FileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
      if (!parsed.success) {
        problems.push(`${path}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
        continue;
      }
      if (`${parsed.data.name}.json` !== file) {
        problems.push(`${path}: holds service "${parsed.data.name}"`);
        continue;
      }
      services.push({ name: parsed.data.name, definition: parsed.data.definition, enabled: parsed.data.enabled });
    } catch (err) {
      problems.push(`${path}: ${(err as Error).message}`);
    }
  }
  return { services, problems };
}

export async function saveDefinition(dir: string, service: StoredService): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const body = { version: 1, name: service.name, definition: service.definition, enabled: service.enabled };
  await writeFileAtomic(join(dir, `${service.name}.json`), `${JSON.stringify(body, null, 2)}\n`);
}

export async function removeDefinition(dir: string, name: string): Promise<void> {
  await rm(join(dir, `${name}.json`), { force: true });
}

// ------------------------------------------------------------ pid files

/** Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat, or undefined when the process is gone (or a zombie). */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: fields after it follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export async function writePidFile(dir: string, name: string, pid: number): Promise<void> {
  const start = await processStartTime(pid);
  if (start === undefined) return;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFile(join(dir, `${name}.pid`), `${pid} ${start}\n`);
}

export async function removePidFile(dir: string, name: string): Promise<void> {
  await rm(join(dir, `${name}.pid`), { force: true });
}

/** How long a left-over process group gets between SIGTERM and SIGKILL. */
const LEFTOVER_GRACE_MS = 2000;

/**
 * Ends the process groups named by pid files in `dir` whose leader is still
 * the same process (SIGTERM, then SIGKILL after a grace), and removes the files.
 * Returns the names of the services whose processes were found.
 */
export async function endLeftovers(dir: string): Promise<string[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.pid'));
  } catch {
    return [];
  }
  const found: Array<{ name: string; pid: number; start: string }> = [];
  for (const file of files) {
    const path = join(dir, file);
    const [pidText, start] = (await readFile(path, 'utf8').catch(() => '')).trim().split(' ');
    const pid = Number(pidText);
    await rm(path, { force: true });
    if (!Number.isInteger(pid) || pid <= 1 || !start) continue;
    if ((await processStartTime(pid)) !== start) continue;
    found.push({ name: file.slice(0, -'.pid'.length), pid, start });
  }
  for (const p of found) {
    log(`service ${p.name}: ending process group ${p.pid} left by a previous agent`);
    signalGroup(p.pid, 'SIGTERM');
  }
  const deadline = Date.now() + LEFTOVER_GRACE_MS;
  for (const p of found) {
    while (Date.now() < deadline && (await processStartTime(p.pid)) === p.start) await new Promise((r) => setTimeout(r, 50));
    signalGroup(p.pid, 'SIGKILL');
  }
  return found.map((p) => p.name);
}
