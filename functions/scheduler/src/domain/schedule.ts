import { Cron } from 'croner';

/**
 * When a schedule fires, as pure functions of its cron expression, its time zone and "now" (the
 * tick passes its own now, so tests drive time). Cron parsing and zone arithmetic are croner's
 * (well kept, no dependencies); what a misfire means is ours.
 *
 * Daylight saving time, in a named zone (what cron users expect, as ISC cron does it):
 * - spring forward: a local time the clock skips (02:30 when 02:00 jumps to 03:00) fires once,
 *   at the jump (03:00 local), neither twice nor never;
 * - fall back: a local time the clock repeats (01:30) fires once, at its first occurrence; an
 *   hourly or finer schedule fires every real hour (both 01:30s), as many times as real time allows.
 */

export type Misfire = 'FIRE_ONCE' | 'SKIP';

export interface ScheduleProblem {
  path: 'cron' | 'timezone';
  message: string;
}

/** `timezone` is an IANA zone this runtime knows (e.g. Europe/Berlin). */
export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$|^UTC$/.test(timezone);
  } catch {
    return false;
  }
}

/** Every problem of a cron expression and time zone (5 fields, or 6 with seconds). */
export function scheduleProblems(cron: string, timezone: string): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  const zoneOk = isTimeZone(timezone);
  if (!zoneOk)
    problems.push({
      path: 'timezone',
      message: `unknown time zone "${timezone}" (an IANA name, e.g. Europe/Berlin)`,
    });
  try {
    const fields = cron.trim().split(/\s+/).length;
    if (fields < 5 || fields > 6) throw new Error(`has ${fields} fields; it needs 5 (or 6 with seconds)`);
    const c = new Cron(cron, { paused: true, ...(zoneOk ? { timezone } : {}) });
    if (c.nextRun(new Date(0)) === null) throw new Error('never fires');
  } catch (err) {
    problems.push({ path: 'cron', message: `not a cron expression: ${(err as Error).message}` });
  }
  return problems;
}

function cronOf(cron: string, timezone: string): Cron {
  return new Cron(cron, { paused: true, timezone });
}

/** The next `n` fire instants strictly after `after`. */
export function nextFireTimes(cron: string, timezone: string, after: Date, n: number): Date[] {
  const c = cronOf(cron, timezone);
  const out: Date[] = [];
  let at = after;
  for (let i = 0; i < n; i += 1) {
    const next = c.nextRun(at);
    if (!next) break;
    out.push(next);
    at = next;
  }
  return out;
}

/** Missed fires counted after an outage; past this they are counted as "at least". */
const MAX_COUNTED = 10_000;

export interface TickDecision {
  /** The instant to fire for now (the first due one), if any. */
  fire?: Date;
  /** Due instants not fired (SKIP after an outage, or coalesced into one FIRE_ONCE fire). */
  missed: number;
  /** When the schedule is next due, strictly after `now`. */
  next: Date | null;
}

/**
 * What a tick at `now` does with a schedule first due at `dueAt`. A fire at most `graceMs` late
 * is on time (ticks come once a minute and take a while) and fires. Older ones were missed while
 * the scheduler was down: FIRE_ONCE fires once for all of them (at the first missed instant),
 * SKIP fires none of them (only a due instant still on time, if there is one). Either way the
 * next due instant is after `now`, so no instant ever fires twice.
 */
export function decideTick(
  s: { cron: string; timezone: string; misfire: Misfire },
  dueAt: Date,
  now: Date,
  graceMs: number,
): TickDecision {
  if (dueAt.getTime() > now.getTime()) return { missed: 0, next: dueAt };
  const c = cronOf(s.cron, s.timezone);
  let latest = dueAt;
  let due = 1;
  for (
    let at = c.nextRun(dueAt);
    at && at.getTime() <= now.getTime() && due < MAX_COUNTED;
    at = c.nextRun(at)
  ) {
    latest = at;
    due += 1;
  }
  const next = c.nextRun(now);
  const late = (at: Date) => now.getTime() - at.getTime() > graceMs;
  if (!late(dueAt) || s.misfire === 'FIRE_ONCE') return { fire: dueAt, missed: due - 1, next };
  // SKIP: what was missed is dropped; a due instant still on time fires.
  return late(latest) ? { missed: due, next } : { fire: latest, missed: due - 1, next };
}
