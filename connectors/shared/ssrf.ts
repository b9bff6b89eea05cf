import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * The SSRF guard for connectors that call a URL a user typed: a webhook or batch API must not become a
 * way to reach the metadata service, the database or anything else on Ebb's own network. Every address
 * a host name resolves to is checked, and the request then connects to the checked address itself, so
 * a second DNS answer (rebinding) cannot redirect it.
 */

const ranges: ReadonlyArray<{ category: string; family: 'ipv4' | 'ipv6'; subnets: [string, number][] }> = [
  { category: 'unspecified', family: 'ipv4', subnets: [['0.0.0.0', 8]] },
  {
    category: 'private',
    family: 'ipv4',
    subnets: [
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
    ],
  },
  { category: 'loopback', family: 'ipv4', subnets: [['127.0.0.0', 8]] },
  { category: 'link-local', family: 'ipv4', subnets: [['169.254.0.0', 16]] },
  { category: 'carrier-grade NAT', family: 'ipv4', subnets: [['100.64.0.0', 10]] },
  { category: 'multicast', family: 'ipv4', subnets: [['224.0.0.0', 4]] },
  // IETF protocol assignments, benchmarking, documentation, reserved and broadcast: never a real API.
  {
    category: 'reserved',
    family: 'ipv4',
    subnets: [
      ['192.0.0.0', 24],
      ['192.0.2.0', 24],
      ['198.18.0.0', 15],
      ['198.51.100.0', 24],
      ['203.0.113.0', 24],
      ['240.0.0.0', 4],
    ],
  },
  { category: 'unspecified', family: 'ipv6', subnets: [['::', 128]] },
  { category: 'loopback', family: 'ipv6', subnets: [['::1', 128]] },
  // Mapped and translated forms embed an IPv4 address that could be any of the above.
  {
    category: 'IPv4-mapped',
    family: 'ipv6',
    subnets: [
      ['::ffff:0:0', 96],
      ['::', 96],
      ['64:ff9b::', 96],
      ['64:ff9b:1::', 48],
    ],
  },
  { category: 'unique local', family: 'ipv6', subnets: [['fc00::', 7]] },
  {
    category: 'link-local',
    family: 'ipv6',
    subnets: [
      ['fe80::', 10],
      ['fec0::', 10],
    ],
  },
  { category: 'multicast', family: 'ipv6', subnets: [['ff00::', 8]] },
  {
    category: 'reserved',
    family: 'ipv6',
    subnets: [
      ['2001:db8::', 32],
      ['100::', 64],
    ],
  },
];

const lists = ranges.map(({ category, family, subnets }) => {
  const list = new BlockList();
  for (const [network, prefix] of subnets) list.addSubnet(network, prefix, family);
  return { category, family, list };
});

/** The kind of non-public address `ip` is (e.g. `loopback`), or null for a public address. */
export function blockedCategory(ip: string): string | null {
  const version = isIP(ip);
  if (version === 0) return 'not an IP address';
  const family = version === 4 ? 'ipv4' : 'ipv6';
  for (const entry of lists) {
    if (entry.family === family && entry.list.check(ip, family)) return entry.category;
  }
  return null;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address the name resolved to, all checked; the socket may try each (happy eyeballs). */
export type ResolveResult =
  | { ok: true; addresses: ResolvedAddress[] }
  /** `refused`: the policy forbids the address; `unresolved`: DNS gave no answer (may be transient). */
  | { ok: false; kind: 'refused' | 'unresolved'; reason: string };

/** URL host names keep IPv6 literals in brackets; resolvers and `isIP` want them bare. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/**
 * Resolves `hostname` and returns the addresses to connect to. Unless private networks are allowed, it
 * refuses when any resolved address is non-public: a name that mixes public and private answers is a
 * rebinding setup, not a real API.
 */
export async function resolveSafeAddress(
  hostname: string,
  options: { allowPrivateNetwork: boolean },
): Promise<ResolveResult> {
  const host = bareHost(hostname);
  let addresses: { address: string; family: number }[];
  const literal = isIP(host);
  if (literal !== 0) {
    addresses = [{ address: host, family: literal }];
  } else {
    try {
      addresses = await lookup(host, { all: true, verbatim: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'lookup failed';
      return { ok: false, kind: 'unresolved', reason: `could not resolve ${host}: ${code}` };
    }
  }
  const first = addresses[0];
  if (!first) return { ok: false, kind: 'unresolved', reason: `could not resolve ${host}: no addresses` };
  if (!options.allowPrivateNetwork) {
    for (const { address } of addresses) {
      const category = blockedCategory(address);
      if (category !== null) {
        const named = address === host ? address : `${host} (${address})`;
        return {
          ok: false,
          kind: 'refused',
          reason: `refusing to connect to ${named}: a ${category} address; private networks are not allowed (EBB_ALLOW_PRIVATE_NETWORK)`,
        };
      }
    }
  }
  return {
    ok: true,
    addresses: addresses.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 })),
  };
}
