/** Settings as shown: the value of each setting named in `secrets` is `***`. */
export function maskSecrets<T>(settings: T, secrets: Iterable<string>): T {
  if (typeof settings !== 'object' || settings === null) return settings;
  const hidden = new Set(secrets);
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, hidden.has(k) ? '***' : v])) as T;
}
