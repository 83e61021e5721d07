import { readFileSync } from 'node:fs';

/**
 * Peak RSS of this process: VmHWM from /proc/self/status. Not `resourceUsage().maxRSS`: on Linux that
 * keeps the high-water mark of the parent's memory at fork time across exec.
 */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}
