import type { Collector } from './ports';

/**
 * `text` with every one of `secrets` replaced by `***`, also as a JSON body would spell it (a
 * source's error body is often JSON, and some encoders escape `/` as well, as PHP's does).
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 4) continue;
    const json = JSON.stringify(s).slice(1, -1);
    for (const form of new Set([s, json, s.replaceAll('/', '\\/'), json.replaceAll('/', '\\/')]))
      out = out.split(form).join('***');
  }
  return out;
}

/** The values of a task's secret settings (its collector names them), to keep out of what is stored or shown. */
export function secretValues(collector: Pick<Collector, 'secrets'>, settings: unknown): string[] {
  if (typeof settings !== 'object' || settings === null) return [];
  return collector.secrets
    .map((name) => (settings as Record<string, unknown>)[name])
    .filter((v): v is string => typeof v === 'string' && v.length >= 4);
}
