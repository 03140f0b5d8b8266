import { describe, expect, it } from 'vitest';
import { decideTick, nextFireTimes, scheduleProblems } from '../../src/domain/schedule';

const iso = (dates: (Date | null | undefined)[]) => dates.map((d) => d?.toISOString() ?? null);
const MIN = 60_000;

describe('schedule validation', () => {
  it('accepts 5-field and 6-field expressions in a known zone', () => {
    expect(scheduleProblems('*/5 * * * *', 'Europe/Berlin')).toEqual([]);
    expect(scheduleProblems('0 30 2 * * 1-5', 'America/New_York')).toEqual([]);
    expect(scheduleProblems('0 3 * * *', 'UTC')).toEqual([]);
  });

  it('lists every problem: a bad expression and an unknown zone', () => {
    const problems = scheduleProblems('61 * * *', 'Mars/Olympus');
    expect(problems.map((p) => p.path).sort()).toEqual(['cron', 'timezone']);
    expect(scheduleProblems('* * * * * * *', 'UTC')[0]?.message).toMatch(/7 fields/);
    expect(scheduleProblems('0 0 31 2 *', 'UTC')[0]?.message).toMatch(/never fires|not a cron/);
  });
});

describe('fire times across daylight saving time (America/New_York, 2026)', () => {
  it('spring forward: a daily 02:30 that does not exist fires once, at the jump (03:00 EDT)', () => {
    const fires = nextFireTimes('30 2 * * *', 'America/New_York', new Date('2026-03-07T12:00:00Z'), 3);
    expect(iso(fires)).toEqual([
      '2026-03-08T07:00:00.000Z',
      '2026-03-09T06:30:00.000Z',
      '2026-03-10T06:30:00.000Z',
    ]);
  });

  it('fall back: a daily 01:30 that happens twice fires once, at the first', () => {
    const fires = nextFireTimes('30 1 * * *', 'America/New_York', new Date('2026-10-31T12:00:00Z'), 2);
    expect(iso(fires)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  });

  it('an hourly schedule fires every real hour through both changes', () => {
    const back = nextFireTimes('30 * * * *', 'America/New_York', new Date('2026-11-01T04:00:00Z'), 4);
    expect(iso(back)).toEqual([
      '2026-11-01T04:30:00.000Z',
      '2026-11-01T05:30:00.000Z',
      '2026-11-01T06:30:00.000Z',
      '2026-11-01T07:30:00.000Z',
    ]);
    const forward = nextFireTimes('30 * * * *', 'America/New_York', new Date('2026-03-08T05:00:00Z'), 3);
    expect(iso(forward)).toEqual([
      '2026-03-08T05:30:00.000Z',
      '2026-03-08T06:30:00.000Z',
      '2026-03-08T07:30:00.000Z',
    ]);
  });
});

describe('a tick', () => {
  const every5 = { cron: '*/5 * * * *', timezone: 'UTC' };
  const due = new Date('2026-11-30T10:00:00Z');

  it('fires a schedule due now, and moves it to its next time', () => {
    const d = decideTick({ ...every5, misfire: 'SKIP' }, due, new Date('2026-11-30T10:00:40Z'), 2 * MIN);
    expect(iso([d.fire, d.next])).toEqual(['2026-11-30T10:00:00.000Z', '2026-11-30T10:05:00.000Z']);
    expect(d.missed).toBe(0);
  });

  it('does nothing before the due time', () => {
    const d = decideTick({ ...every5, misfire: 'SKIP' }, due, new Date('2026-11-30T09:59:59Z'), 2 * MIN);
    expect(d.fire).toBeUndefined();
    expect(d.next).toEqual(due);
  });

  it('after an outage, FIRE_ONCE fires once for everything missed', () => {
    const d = decideTick({ ...every5, misfire: 'FIRE_ONCE' }, due, new Date('2026-11-30T11:02:00Z'), 2 * MIN);
    expect(iso([d.fire, d.next])).toEqual(['2026-11-30T10:00:00.000Z', '2026-11-30T11:05:00.000Z']);
    expect(d.missed).toBe(12); // 10:05 … 11:00, coalesced into the one fire
  });

  it('after an outage, SKIP fires none of the missed times and waits for the next', () => {
    const d = decideTick({ ...every5, misfire: 'SKIP' }, due, new Date('2026-11-30T11:03:00Z'), 2 * MIN);
    expect(d.fire).toBeUndefined();
    expect(d.missed).toBe(13);
    expect(d.next?.toISOString()).toBe('2026-11-30T11:05:00.000Z');
  });

  it('after an outage, SKIP still fires a due time that is on time', () => {
    const d = decideTick({ ...every5, misfire: 'SKIP' }, due, new Date('2026-11-30T11:00:30Z'), 2 * MIN);
    expect(d.fire?.toISOString()).toBe('2026-11-30T11:00:00.000Z');
    expect(d.missed).toBe(12);
  });

  it('never fires one instant twice: the next due time is always after now', () => {
    for (const misfire of ['FIRE_ONCE', 'SKIP'] as const) {
      const now = new Date('2026-11-30T10:00:00Z');
      const d = decideTick({ ...every5, misfire }, due, now, 2 * MIN);
      expect(d.next && d.next.getTime() > now.getTime()).toBe(true);
    }
  });
});
