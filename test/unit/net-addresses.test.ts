import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../daemon/errors.js';
import {
  guestCmdlineArgs, intToIpv4, ipv4ToInt, macForSandbox, parseIpv4Cidr, transitAddresses, transitSlotCount,
} from '../../daemon/net/addresses.js';

describe('sandbox addresses', () => {
  it('maps slots to consecutive /30s of the transit range', () => {
    expect(transitAddresses('10.213.0.0/16', 0)).toEqual({ slot: 0, network: '10.213.0.0', host: '10.213.0.1', sandbox: '10.213.0.2', prefix: 30 });
    expect(transitAddresses('10.213.0.0/16', 1)).toMatchObject({ host: '10.213.0.5', sandbox: '10.213.0.6' });
    expect(transitAddresses('10.213.0.0/16', 64)).toMatchObject({ network: '10.213.1.0', host: '10.213.1.1' });
    expect(transitAddresses('10.213.0.0/16', 16383)).toMatchObject({ host: '10.213.255.253', sandbox: '10.213.255.254' });
    expect(transitSlotCount('10.213.0.0/16')).toBe(16384);
    expect(transitSlotCount('192.0.2.0/30')).toBe(1);
  });

  it('refuses slots outside the range and malformed ranges', () => {
    expect(() => transitAddresses('10.213.0.0/16', 16384)).toThrow(BadRequestError);
    expect(() => transitAddresses('10.213.0.0/16', -1)).toThrow(/outside/);
    expect(() => transitAddresses('10.213.0.0/16', 1.5)).toThrow(/outside/);
    expect(() => transitSlotCount('10.213.0.0/31')).toThrow(/smaller/);
    expect(() => parseIpv4Cidr('10.213.0.1/16')).toThrow(/host bits/);
    expect(() => parseIpv4Cidr('10.213.0.0')).toThrow(/not an IPv4 network/);
    expect(() => parseIpv4Cidr('10.256.0.0/16')).toThrow(/not an IPv4 network/);
    expect(() => parseIpv4Cidr('010.1.0.0/16')).toThrow(/not an IPv4 network/);
  });

  it('converts addresses both ways', () => {
    expect(ipv4ToInt('255.255.255.255')).toBe(0xffffffff);
    expect(intToIpv4(0xffffffff)).toBe('255.255.255.255');
    expect(intToIpv4(ipv4ToInt('172.31.255.2')!)).toBe('172.31.255.2');
    expect(ipv4ToInt('1.2.3')).toBeUndefined();
  });

  it('derives a stable, locally administered unicast MAC from the id', () => {
    const mac = macForSandbox('abc123');
    expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(macForSandbox('abc123')).toBe(mac);
    expect(macForSandbox('abc124')).not.toBe(mac);
  });

  it('gives every guest the same kernel command line', () => {
    expect(guestCmdlineArgs()).toBe('hob.ip=172.31.255.2/30 hob.gw=172.31.255.1 hob.dns=172.31.255.1');
  });
});
