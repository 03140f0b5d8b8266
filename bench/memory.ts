import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Resident set size of a process in bytes, or 0 if it is gone. */
function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const CLOCK_TICKS = 100;

/** CPU seconds (user + system) a process has used so far, or 0 if it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Every pid in process group `pgid` (a spawned part with its children). */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Pids of a named server process (mariadbd, redis-server, beam.smp …). */
export function pidsOf(name: string): number[] {
  try {
    return execFileSync('pidof', [name], { encoding: 'utf8' })
      .trim()
      .split(/\s+/)
      .map(Number)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Samples the peak RSS (and reads the CPU time) of labelled processes while a benchmark runs. A label is either a fixed
 * set of pids or a process group, summed per sample (a group's members run as one unit).
 */
export class ProcessMonitor {
  private readonly peaks = new Map<string, { peak: number; pids: number }>();
  /** RSS at the first sample: the shared services were already running, some for a long time. */
  readonly atStart = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sources: () => Map<string, { pids?: number[]; pgid?: number }>) {}

  sample(): void {
    for (const [label, src] of this.sources()) {
      const pids = src.pgid !== undefined ? groupMembers(src.pgid) : (src.pids ?? []);
      // A process group is counted per process: each must stay under the budget on its own.
      const worst = Math.max(0, ...pids.map(rss));
      if (!this.atStart.has(label)) this.atStart.set(label, worst);
      const prev = this.peaks.get(label);
      if (!prev || worst > prev.peak) this.peaks.set(label, { peak: worst, pids: pids.length });
    }
  }

  /** CPU seconds used so far by each label's processes (summed). */
  cpu(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [label, src] of this.sources()) {
      const pids = src.pgid !== undefined ? groupMembers(src.pgid) : (src.pids ?? []);
      out.set(
        label,
        pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
      );
    }
    return out;
  }

  start(everyMs = 250): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  stop(): Map<string, number> {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return new Map([...this.peaks].map(([k, v]) => [k, v.peak]));
  }
}
