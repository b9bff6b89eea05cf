import { describe, expect, it } from 'vitest';
import { blockedCategory, resolveSafeAddress } from './ssrf.ts';

describe('SSRF guard', () => {
  it('names the kind of every non-public address', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'link-local'],
      ['100.64.0.1', 'carrier-grade NAT'],
      ['224.0.0.1', 'multicast'],
      ['0.0.0.0', 'unspecified'],
      ['255.255.255.255', 'reserved'],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['fd00::1', 'unique local'],
      ['fe80::1', 'link-local'],
      ['ff02::1', 'multicast'],
      ['::ffff:127.0.0.1', 'IPv4-mapped'],
      ['::ffff:8.8.8.8', 'IPv4-mapped'],
    ];
    for (const [ip, category] of cases) expect([ip, blockedCategory(ip)]).toEqual([ip, category]);
  });

  it('lets public addresses through', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111']) {
      expect([ip, blockedCategory(ip)]).toEqual([ip, null]);
    }
  });

  it('refuses literal private addresses and names them', async () => {
    expect(await resolveSafeAddress('10.0.0.5', { allowPrivateNetwork: false })).toEqual({
      ok: false,
      kind: 'refused',
      reason:
        'refusing to connect to 10.0.0.5: a private address; private networks are not allowed (EBB_ALLOW_PRIVATE_NETWORK)',
    });
    const v6 = await resolveSafeAddress('[::1]', { allowPrivateNetwork: false });
    expect(v6.ok === false && v6.reason).toMatch(/^refusing to connect to ::1: a loopback address/);
  });

  it('resolves names before checking them, so localhost is refused', async () => {
    const result = await resolveSafeAddress('localhost', { allowPrivateNetwork: false });
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.reason).toMatch(
      /^refusing to connect to localhost \((127\.0\.0\.1|::1)\): a loopback address/,
    );
  });

  it('allows private addresses when the deployment says so', async () => {
    expect(await resolveSafeAddress('127.0.0.1', { allowPrivateNetwork: true })).toEqual({
      ok: true,
      addresses: [{ address: '127.0.0.1', family: 4 }],
    });
    const local = await resolveSafeAddress('localhost', { allowPrivateNetwork: true });
    expect(local.ok).toBe(true);
  });

  it('reports names that do not resolve', async () => {
    const result = await resolveSafeAddress('no-such-host.invalid', { allowPrivateNetwork: false });
    expect(result.ok === false && result.reason).toMatch(/^could not resolve no-such-host\.invalid: /);
    expect(result.ok === false && result.kind).toBe('unresolved');
  });
});
