import type { Collector } from './ports';

/** `text` with every one of `secrets` replaced by `***`. */
export const redact = (text: string, secrets: readonly string[]): string =>
  secrets.reduce((t, s) => (s.length >= 4 ? t.split(s).join('***') : t), text);

/** The values of a task's secret settings (its collector names them), to keep out of what is stored or shown. */
export function secretValues(collector: Pick<Collector, 'secrets'>, settings: unknown): string[] {
  if (typeof settings !== 'object' || settings === null) return [];
  return collector.secrets
    .map((name) => (settings as Record<string, unknown>)[name])
    .filter((v): v is string => typeof v === 'string' && v.length >= 4);
}
