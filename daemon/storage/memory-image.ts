/**
 * A VMM memory image inside a sandbox volume (docs/architecture.md §3, §7):
 * the directory a VMM saves a guest's memory into and resumes it from.
 */
import { mkdir } from 'node:fs/promises';
import type { Pool } from './pool.js';
import type { PoolPath } from './paths.js';

export class MemoryImage {
  constructor(
    private readonly pool: Pool,
    /** Where the VMM writes and reads it; handed to the VMM as it is. */
    readonly dir: PoolPath,
    /** Pool-relative name, for logs and reports. */
    readonly label: string,
  ) {}

  /** Creates the empty directory (0700). @throws if it exists (remove it first) or the pool is full. */
  async create(): Promise<void> {
    await mkdir(this.dir, { mode: 0o700 });
  }

  /** Deletes it with everything in it. Returns false if there was none. @throws HobError from btrfs. */
  remove(): Promise<boolean> {
    return this.pool.delete(this.dir);
  }

  exists(): Promise<boolean> {
    return this.pool.exists(this.dir);
  }
}
