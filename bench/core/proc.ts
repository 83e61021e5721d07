/**
 * Memory and CPU of other processes from /proc (Linux): VmRSS / VmHWM from /proc/<pid>/status, CPU
 * seconds from /proc/<pid>/stat, the process tree from the ppid field, and a sampler of VmRSS.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

export interface MemStatus {
  /** Resident set size now. */
  rss: number;
  /** Peak resident set size (high-water mark) since start or since the last `resetPeak`. */
  hwm: number;
  /** RSS split: anonymous memory (heaps), file-backed pages (code, mapped files), shared memory. */
  anon: number;
  file: number;
  shmem: number;
}

export function memStatus(pid: number): MemStatus | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return {
      rss: kb('VmRSS'),
      hwm: kb('VmHWM'),
      anon: kb('RssAnon'),
      file: kb('RssFile'),
      shmem: kb('RssShmem'),
    };
  } catch {
    return undefined;
  }
}

/**
 * Resets the process's VmHWM to its current RSS (`echo 5 > /proc/<pid>/clear_refs`; the caller must
 * own the process or be root). Only the counter changes, not the process. False if not allowed.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

interface Stat {
  pid: number;
  ppid: number;
  /** user + system CPU seconds of the process (its threads; not its children). */
  cpu: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: split after the last ')'
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15
    const ppid = Number(rest[1]);
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { pid, ppid, cpu: (utime + stime) / ticksPerSecond() };
  } catch {
    return undefined;
  }
}

export const parentPid = (pid: number): number | undefined => stat(pid)?.ppid;

/** user + system CPU seconds used so far by `pid` (undefined once it is gone). */
export const cpuSeconds = (pid: number): number | undefined => stat(pid)?.cpu;

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** Every live descendant of `root` (children first, then theirs), from the ppid of every process. */
export function descendants(root: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (!s) continue;
    const list = byParent.get(s.ppid) ?? [];
    list.push(s.pid);
    byParent.set(s.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    for (const c of byParent.get(p) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Samples VmRSS of some processes every `everyMs`; keeps the largest sample of each. */
export class RssSampler {
  private readonly peak = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;
  samples = 0;

  constructor(
    private readonly pids: readonly number[],
    everyMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    this.samples++;
    for (const pid of this.pids) {
      const m = memStatus(pid);
      if (m) this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, m.rss));
    }
  }

  /** Stops sampling; the largest VmRSS seen per pid. */
  stop(): Map<number, number> {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** CPU seconds of several processes between `start()` and `stop()`, with the wall time. */
export class CpuWindow {
  private readonly t0 = performance.now();
  private readonly c0: Map<number, number>;

  constructor(private readonly pids: readonly number[]) {
    this.c0 = new Map(pids.map((p) => [p, cpuSeconds(p) ?? 0]));
  }

  /** Per pid: CPU seconds used in the window and that as a share of one core (1 = 100 %). */
  stop(): { wall: number; byPid: Map<number, { cpu: number; cores: number }> } {
    const wall = (performance.now() - this.t0) / 1000;
    const byPid = new Map<number, { cpu: number; cores: number }>();
    for (const p of this.pids) {
      const cpu = (cpuSeconds(p) ?? 0) - (this.c0.get(p) ?? 0);
      byPid.set(p, { cpu, cores: wall > 0 ? cpu / wall : 0 });
    }
    return { wall, byPid };
  }
}
