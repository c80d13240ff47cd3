/** `hob policy`: the rules its flags make, and how it prints a policy. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyFromOptions, policyText } from '../../daemon/cli/commands/policy.js';
import { UsageError } from '../../daemon/cli/errors.js';

const noStdin = async (): Promise<string> => {
  throw new Error('stdin must not be read');
};

describe('hob policy', () => {
  it('shows the policy when no option is given', async () => {
    expect(await policyFromOptions({}, noStdin)).toBeUndefined();
  });

  it('builds denies first, then the defaults, then allows', async () => {
    expect(await policyFromOptions({ allow: ['github.com', '*.npmjs.org'], deny: ['evil.github.com'], defaults: true }, noStdin)).toEqual({
      rules: [
        { domain: 'evil.github.com', action: 'deny' },
        { include: 'defaults' },
        { domain: 'github.com', action: 'allow' },
        { domain: '*.npmjs.org', action: 'allow' },
      ],
    });
    expect(await policyFromOptions({ unrestricted: true }, noStdin)).toEqual({ rules: [] });
  });

  it('refuses contradicting options and a deny that would refuse everything', async () => {
    await expect(policyFromOptions({ allow: ['a.com'], unrestricted: true }, noStdin)).rejects.toThrow(UsageError);
    await expect(policyFromOptions({ file: 'x.json', unrestricted: true }, noStdin)).rejects.toThrow(UsageError);
    await expect(policyFromOptions({ deny: ['a.com'] }, noStdin)).rejects.toThrow(/--allow "\*"/);
  });

  it('reads a policy file or stdin as JSON, and says when it is not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hob-policy-'));
    try {
      const file = join(dir, 'p.json');
      await writeFile(file, '{"rules":[{"include":"defaults"}]}');
      expect(await policyFromOptions({ file }, noStdin)).toEqual({ rules: [{ include: 'defaults' }] });
      expect(await policyFromOptions({ file: '-' }, async () => '{"rules":[]}')).toEqual({ rules: [] });
      await writeFile(file, 'rules: []');
      await expect(policyFromOptions({ file }, noStdin)).rejects.toThrow(/not JSON/);
      await expect(policyFromOptions({ file: join(dir, 'missing.json') }, noStdin)).rejects.toThrow(/cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints unrestricted and restricted policies', () => {
    expect(policyText('web', { rules: [] })).toContain('web: unrestricted');
    const text = policyText('web', { rules: [{ include: 'defaults' }, { domain: '*', action: 'deny' }] });
    expect(text).toContain('restricted');
    expect(text).toContain('include defaults');
    expect(text).toMatch(/deny\s+\*/);
  });
});
