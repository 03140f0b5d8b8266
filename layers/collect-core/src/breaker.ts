/**
 * A circuit breaker per source host, shared by every worker. Written here rather than taken from
 * opossum or cockatiel: theirs keep the state inside one process and wrap one call, while this
 * one must be the same for every worker, park shards instead of failing calls, and hand the
 * parked shards back when its probe succeeds. The state machine is this pure function; the
 * adapters keep its state (in memory, in Redis) and apply it atomically.
 *
 * CLOSED: requests go; `threshold` failures in a row open it.
 * OPEN: shards park (PAUSED, `BREAKER_OPEN`), spending no attempt; the shard whose failure opened
 *   it is its probe and comes back after the cool-down.
 * HALF_OPEN: after the cool-down the probe (or, if it never came back within a second cool-down,
 *   the first shard that asks) goes through alone; its success closes the breaker and resumes
 *   every parked shard, its failure opens it again.
 */
export type BreakerStateName = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

export interface BreakerState {
  state: BreakerStateName;
  failures: number;
  /** OPEN: when the cool-down ends (epoch ms). */
  openUntil: number;
  /** The holder let through as the probe ('' = none). */
  probe: string;
}

export interface BreakerSettings {
  threshold: number;
  coolDownMs: number;
}

export const CLOSED: BreakerState = { state: 'CLOSED', failures: 0, openUntil: 0, probe: '' };

export type Admission = 'go' | 'park' | 'probe';

/** What a holder may do before a request, and the state after it asked. */
export function admit(
  s: BreakerState,
  holder: string,
  now: number,
  cfg: BreakerSettings,
): [Admission, BreakerState] {
  if (s.state === 'CLOSED') return ['go', s];
  if (s.probe === holder) return ['probe', now >= s.openUntil ? { ...s, state: 'HALF_OPEN' } : s];
  // The probe never came back (its worker died): after a second cool-down anyone may probe.
  const orphaned = now >= s.openUntil + cfg.coolDownMs;
  if (s.state === 'OPEN' && (orphaned || (now >= s.openUntil && s.probe === '')))
    return ['probe', { ...s, state: 'HALF_OPEN', probe: holder }];
  if (s.state === 'HALF_OPEN' && orphaned) return ['probe', { ...s, probe: holder, openUntil: now }];
  return ['park', s];
}

/** A request answered: the breaker closes (it was the probe, or a request in flight came back well). */
export function succeeded(s: BreakerState): { next: BreakerState; closed: boolean } {
  return { next: CLOSED, closed: s.state !== 'CLOSED' };
}

/** A request failed: returns the cool-down when this failure opened the breaker. */
export function failed(
  s: BreakerState,
  holder: string,
  now: number,
  cfg: BreakerSettings,
): { next: BreakerState; opened: number | undefined } {
  const open = {
    state: 'OPEN' as const,
    failures: s.failures + 1,
    openUntil: now + cfg.coolDownMs,
    probe: holder,
  };
  if (s.state === 'HALF_OPEN' && s.probe === holder) return { next: open, opened: cfg.coolDownMs };
  if (s.state === 'CLOSED') {
    const failures = s.failures + 1;
    return failures >= cfg.threshold
      ? { next: { ...open, failures }, opened: cfg.coolDownMs }
      : { next: { ...s, failures }, opened: undefined };
  }
  return { next: s, opened: undefined };
}
