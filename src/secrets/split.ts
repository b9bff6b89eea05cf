import type { SecretBox } from './box.ts';

/**
 * Source and destination configs are stored in two parts: the plain `config` (shown by the API) and
 * the listed secret fields, sealed together in one envelope. These two functions are the only way
 * between a full config and its stored form.
 */
export function splitSecrets(
  config: Record<string, unknown>,
  secretFields: readonly string[],
  box: SecretBox,
): { config: Record<string, unknown>; secrets: string | null } {
  const plain: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (secretFields.includes(key) && value !== undefined) secret[key] = value;
    else plain[key] = value;
  }
  return { config: plain, secrets: Object.keys(secret).length > 0 ? box.sealJson(secret) : null };
}

export function mergeSecrets(
  stored: { config: Record<string, unknown>; secrets: string | null },
  box: SecretBox,
): Record<string, unknown> {
  return stored.secrets ? { ...stored.config, ...box.openJson(stored.secrets) } : { ...stored.config };
}

/** The config as the API shows it: every secret field present is replaced by a marker. */
export function redactSecrets(
  stored: { config: Record<string, unknown>; secrets: string | null },
  secretFields: readonly string[],
  box: SecretBox,
): Record<string, unknown> {
  if (!stored.secrets) return { ...stored.config };
  const present = Object.keys(box.openJson(stored.secrets)).filter((k) => secretFields.includes(k));
  return { ...stored.config, ...Object.fromEntries(present.map((k) => [k, '[redacted]'])) };
}
