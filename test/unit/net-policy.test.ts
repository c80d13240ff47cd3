import { describe, expect, it } from 'vitest';
import {
  compilePolicy, DEFAULT_ALLOW_DOMAINS, expandRules, matchDomain, NetworkPolicySchema, renderPolicyFile,
} from '../../daemon/net/policy.js';

const parse = (v: unknown) => NetworkPolicySchema.parse(v);

describe('egress policy', () => {
  it('accepts the Sprites shape and normalizes domains', () => {
    const p = parse({ rules: [{ domain: 'GitHub.com.', action: 'allow' }, { include: 'defaults' }, { domain: '*.npmjs.org', action: 'allow' }, { domain: '*', action: 'deny' }] });
    expect(p.rules[0]).toEqual({ domain: 'github.com', action: 'allow' });
    expect(p.rules).toHaveLength(4);
  });

  it.each([
    [{ rules: [{ domain: 'a b.com', action: 'allow' }] }],
    [{ rules: [{ domain: 'a.*.com', action: 'allow' }] }],
    [{ rules: [{ domain: '**', action: 'allow' }] }],
    [{ rules: [{ domain: '*.*.example', action: 'allow' }] }],
    [{ rules: [{ domain: '-a.example', action: 'allow' }] }],
    [{ rules: [{ domain: '', action: 'allow' }] }],
    [{ rules: [{ domain: 'example.com', action: 'block' }] }],
    [{ rules: [{ include: 'everything' }] }],
    [{ rules: [{ domain: 'example.com', action: 'allow', extra: 1 }] }],
    [{ rules: 'all' }],
    [{}],
  ])('refuses %j', (v) => {
    expect(NetworkPolicySchema.safeParse(v).success).toBe(false);
  });

  it('matches exact names, subdomain wildcards (not the apex) and *', () => {
    expect(matchDomain('example.com', 'example.com')).toBe(true);
    expect(matchDomain('example.com', 'api.example.com')).toBe(false);
    expect(matchDomain('*.example.com', 'api.example.com')).toBe(true);
    expect(matchDomain('*.example.com', 'a.b.example.com')).toBe(true);
    expect(matchDomain('*.example.com', 'example.com')).toBe(false);
    expect(matchDomain('*.example.com', 'badexample.com')).toBe(false);
    expect(matchDomain('*', 'anything.at.all')).toBe(true);
  });

  it('is unrestricted when empty, otherwise first match wins and no match denies', () => {
    const open = compilePolicy(parse({ rules: [] }));
    expect(open.restricted).toBe(false);
    expect(open.decide('whatever.example')).toBe('allow');

    const p = compilePolicy(parse({ rules: [{ domain: 'bad.example.com', action: 'deny' }, { domain: '*.example.com', action: 'allow' }] }));
    expect(p.restricted).toBe(true);
    expect(p.decide('bad.example.com')).toBe('deny');
    expect(p.decide('Good.Example.com.')).toBe('allow');
    expect(p.decide('example.com')).toBe('deny');
    expect(p.decide('other.org')).toBe('deny');

    const denyAll = compilePolicy(parse({ rules: [{ domain: '*', action: 'deny' }] }));
    expect(denyAll.restricted).toBe(true);
    expect(denyAll.decide('github.com')).toBe('deny');
  });

  it('expands {"include":"defaults"} in place', () => {
    const rules = parse({ rules: [{ domain: 'registry.npmjs.org', action: 'deny' }, { include: 'defaults' }] }).rules;
    const expanded = expandRules(rules);
    expect(expanded).toHaveLength(1 + DEFAULT_ALLOW_DOMAINS.length);
    const p = compilePolicy({ rules });
    expect(p.decide('registry.npmjs.org')).toBe('deny');
    expect(p.decide('github.com')).toBe('allow');
    expect(p.decide('api.anthropic.com')).toBe('allow');
    expect(p.decide('pypi.org')).toBe('allow');
    expect(p.decide('evil.example')).toBe('deny');
    // Every default is itself a valid rule.
    expect(NetworkPolicySchema.safeParse({ rules: DEFAULT_ALLOW_DOMAINS.map((domain) => ({ domain, action: 'allow' })) }).success).toBe(true);
  });

  it('renders the file the guest can read', () => {
    expect(JSON.parse(renderPolicyFile({ rules: [{ domain: 'a.com', action: 'allow' }] }))).toEqual({ rules: [{ domain: 'a.com', action: 'allow' }] });
  });
});

describe('parsePolicy', () => {
  it('throws a BadRequestError naming the rule', async () => {
    const { parsePolicy } = await import('../../daemon/net/policy.js');
    const { BadRequestError } = await import('../../daemon/errors.js');
    expect(() => parsePolicy({ rules: [{ domain: 'ok.example', action: 'allow' }, { domain: 'x', action: 'nope' }] })).toThrow(BadRequestError);
    expect(() => parsePolicy({ rules: [{ domain: 'ok.example', action: 'allow' }, { domain: 'x', action: 'nope' }] })).toThrow(/rules\.1\.action/);
    expect(parsePolicy({ rules: [] })).toEqual({ rules: [] });
  });
});
