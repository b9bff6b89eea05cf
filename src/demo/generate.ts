import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * Generates the demo dataset `customers.csv` used by the README quickstart (a DuckDB source with
 * `{"directory": "src/demo"}` and the model `select * from customers`, primary key
 * `id`). Seeded and clock-free, so running it again writes the same bytes: a change in the file is a
 * change in this script. Run: `node src/demo/generate.ts`.
 */

const firstNames = [
  'Ada',
  'Amara',
  'Ana',
  'Arjun',
  'Beatriz',
  'Ben',
  'Camille',
  'Carlos',
  'Chen',
  'Chloe',
  'Daniel',
  'Diego',
  'Elena',
  'Emeka',
  'Emma',
  'Farah',
  'Felix',
  'Grace',
  'Hana',
  'Hugo',
  'Ines',
  'Isaac',
  'Jamal',
  'Jana',
  'Jonas',
  'Julia',
  'Kai',
  'Karin',
  'Leila',
  'Liam',
  'Lucia',
  'Maya',
  'Mateo',
  'Mei',
  'Nadia',
  'Noah',
  'Olga',
  'Omar',
  'Priya',
  'Rafael',
  'Rosa',
  'Sami',
  'Sara',
  'Sofia',
  'Tariq',
  'Theo',
  'Uma',
  'Victor',
  'Yara',
  'Yusuf',
  'Zoe',
];
const lastNames = [
  'Adeyemi',
  'Andersen',
  'Bauer',
  'Becker',
  'Costa',
  'Dubois',
  'Eriksson',
  'Fernandes',
  'Garcia',
  'Haddad',
  'Hansen',
  'Ito',
  'Jansen',
  'Kaur',
  'Kim',
  'Kowalski',
  'Larsen',
  'Lopez',
  'Martin',
  'Meyer',
  'Moreau',
  'Nakamura',
  'Nguyen',
  'Novak',
  'Okafor',
  'Olsen',
  'Patel',
  'Petrov',
  'Rossi',
  'Santos',
  'Schmidt',
  'Silva',
  'Singh',
  'Suzuki',
  'Tanaka',
  'Torres',
  'Vargas',
  'Wagner',
  'Wang',
  'Weber',
  'Yilmaz',
  'Zhang',
];
const companies = [
  ['Acme Analytics', 'acme-analytics.example'],
  ['Bluefin Logistics', 'bluefin.example'],
  ['Brightpath Health', 'brightpath.example'],
  ['Cedar & Stone', 'cedarstone.example'],
  ['Copperleaf Studio', 'copperleaf.example'],
  ['Driftwood Outdoor', 'driftwood.example'],
  ['Everfield Foods', 'everfield.example'],
  ['Fjord Payments', 'fjordpay.example'],
  ['Granite Robotics', 'granite-robotics.example'],
  ['Harbor Insurance', 'harbor-ins.example'],
  ['Juniper Education', 'juniper-edu.example'],
  ['Kestrel Security', 'kestrel.example'],
  ['Lumen Energy', 'lumen-energy.example'],
  ['Meridian Travel', 'meridian.example'],
  ['Northwind Traders', 'northwind.example'],
  ['Orchard Retail', 'orchard.example'],
  ['Pinecone Media', 'pinecone-media.example'],
  ['Quarry Labs', 'quarrylabs.example'],
  ['Riverbend Bank', 'riverbend.example'],
  ['Saffron Kitchens', 'saffron.example'],
  ['Tidewater Shipping', 'tidewater.example'],
  ['Umbra Games', 'umbra.example'],
  ['Vertex Manufacturing', 'vertex-mfg.example'],
  ['Willow Legal', 'willow-legal.example'],
  ['Zephyr Cloud', 'zephyr.example'],
] as const;
// Plans with their weight and monthly price: most customers are on the cheaper plans.
const plans = [
  { name: 'free', weight: 35, monthly: 0 },
  { name: 'starter', weight: 35, monthly: 29 },
  { name: 'growth', weight: 22, monthly: 99 },
  { name: 'enterprise', weight: 8, monthly: 499 },
] as const;

/** mulberry32: a tiny seeded PRNG; Math.random would make every run differ. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function pickPlan(roll: number): (typeof plans)[number] {
  let remaining = roll;
  for (const plan of plans) {
    remaining -= plan.weight;
    if (remaining < 0) return plan;
  }
  return plans[0];
}

function csvField(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function timestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

const HEADER = [
  'id',
  'email',
  'first_name',
  'last_name',
  'company',
  'plan',
  'lifetime_value',
  'signed_up_at',
  'updated_at',
];

export function generateCustomers(count = 1000, seed = 20240601): string {
  const random = seededRandom(seed);
  const start = Date.UTC(2022, 0, 1);
  const end = Date.UTC(2024, 5, 1);
  const day = 86_400_000;
  const lines = [HEADER.join(',')];
  for (let id = 1; id <= count; id++) {
    const first = pick(random, firstNames);
    const last = pick(random, lastNames);
    const [company, domain] = pick(random, companies);
    const plan = pickPlan(random() * 100);
    const signedUp = start + Math.floor(random() * (end - start - 30 * day));
    const months = Math.max(1, Math.floor((end - signedUp) / (30 * day)));
    // Cents, so the value is an exact decimal: the engine must not turn 1234.5 into 1234.4999.
    const cents = plan.monthly * months * 100 + Math.floor(random() * 5000);
    const lifetimeValue = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
    const updated = signedUp + Math.floor(random() * (end - signedUp));
    const email = `${first}.${last}.${id}@${domain}`.toLowerCase();
    const row = [String(id), email, first, last, company, plan.name, lifetimeValue];
    row.push(timestamp(signedUp), timestamp(updated));
    lines.push(row.map(csvField).join(','));
  }
  return `${lines.join('\n')}\n`;
}

export const customersCsvPath = fileURLToPath(new URL('./customers.csv', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(customersCsvPath, generateCustomers());
  console.log(`wrote ${customersCsvPath}`);
}
