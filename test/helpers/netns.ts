import { randomBytes } from 'node:crypto';
import { execa } from 'execa';

/**
 * A fresh network namespace with only loopback up and no uplink: the e2e
 * harness runs hobd in one, so nothing a test does can send packets beyond
 * this machine (docs/architecture.md §6; the network rule).
 */
export interface TestNetns {
  readonly name: string;
  /** argv prefix that runs a command inside the namespace. */
  readonly exec: readonly string[];
  dispose(): Promise<void>;
}

export async function createTestNetns(prefix = 'hobt'): Promise<TestNetns> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await execa('ip', ['netns', 'add', name]);
  try {
    await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await execa('ip', ['netns', 'delete', name]).catch(() => undefined);
    throw err;
  }
  return {
    name,
    exec: ['ip', 'netns', 'exec', name],
    dispose: async () => {
      await execa('ip', ['netns', 'delete', name]).catch(() => undefined);
    },
  };
}
