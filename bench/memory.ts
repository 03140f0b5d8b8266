import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

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

/** The processes of a bench: the stack's parts, the driver, and the shared services. */
export function stackMonitor(stack: { processGroups(): Map<string, number> }): ProcessMonitor {
  const names: Record<string, string> = {
    offline: 'serverless-offline (API)',
    workers: 'serverless-offline (workers)',
    bridge: 'rabbitmq bridge',
  };
  return new ProcessMonitor(() => {
    const m = new Map<string, { pids?: number[]; pgid?: number }>();
    for (const [part, pgid] of stack.processGroups()) m.set(names[part] ?? part, { pgid });
    m.set('bench driver', { pids: [process.pid] });
    m.set('mariadbd', { pids: pidsOf('mariadbd') });
    m.set('mongodb server', { pids: mongoServerPid() });
    m.set('rabbitmq (beam.smp)', { pids: pidsOf('beam.smp') });
    m.set('redis-server', { pids: pidsOf('redis-server') });
    return m;
  });
}

/** "label 1.2, …" of the CPU each process used between two readings, busiest first. */
export function cpuUse(before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .map(([label, total]): [string, number] => [label, total - (before.get(label) ?? 0)])
    .filter(([, used]) => used >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([label, used]) => `${label} ${used.toFixed(1)}`)
    .join(', ');
}

function mongoServerPid(): number[] {
  try {
    return [Number(readFileSync(resolve(__dirname, '../.mongo/mongod.pid'), 'utf8').trim())];
  } catch {
    return [];
  }
}

const MB = 1024 * 1024;

/** Stops the monitor and prints each process's peak RSS beside its RSS when the bench started. */
export function printPeaks(memory: ProcessMonitor): void {
  const peaks = memory.stop();
  console.log('peak RSS per process (and when the bench started):');
  for (const [label, bytes] of peaks) {
    const start = `(${((memory.atStart.get(label) ?? 0) / MB).toFixed(0)} MB)`;
    console.log(
      `  ${label.padEnd(32)} ${(bytes / MB).toFixed(0).padStart(5)} MB ${start.padStart(9)}${bytes > 512 * MB ? '  over 512 MB' : ''}`,
    );
  }
}
