import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { cpuShare, isZombie, parseCpuSeconds, parseRssBytes, sampleProcess } from '../../bench/procStat.ts';
import { parseVoiceCounters } from '../../bench/serverProcess.ts';

test('CPU seconds are utime + stime, even when the command name has spaces and parentheses', () => {
  const stat = '1234 (node (a b)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 0 0';
  assert.equal(parseCpuSeconds(stat), 3);
});

test('RSS comes from VmRSS in kB', () => {
  assert.equal(parseRssBytes('Name:\tnode\nVmRSS:\t  2048 kB\nVmSwap:\t0 kB\n'), 2048 * 1024);
  assert.throws(() => parseRssBytes('Name:\tnode\n'), /VmRSS/);
});

test('this process can be sampled, and a share of one core follows from two samples', () => {
  const a = sampleProcess(process.pid)!;
  assert.ok(a.rssBytes > 0);
  assert.equal(
    cpuShare({ atMs: 0, cpuSeconds: 1, rssBytes: 0 }, { atMs: 2000, cpuSeconds: 2, rssBytes: 0 }),
    0.5,
  );
});

test('a process that has ended samples as undefined (the bench reports it), not as an ENOENT crash', async () => {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  assert.equal(sampleProcess(child.pid!), undefined);
});

test('an exited process not yet reaped (a zombie, no VmRSS) counts as ended', () => {
  assert.equal(isZombie('Name:\tnode\nState:\tZ (zombie)\nTgid:\t12\n'), true);
  assert.equal(isZombie('Name:\tnode\nState:\tS (sleeping)\nVmRSS:\t 2048 kB\n'), false);
});

test('voice counters are read from the Prometheus text of /metrics', () => {
  const text = [
    '# HELP grid_voice_packets_total Voice packets',
    'grid_voice_packets_total{direction="in"} 1500',
    'grid_voice_packets_total{direction="out",region="eu"} 6000',
  ].join('\n');
  assert.deepEqual(parseVoiceCounters(text), { in: 1500, out: 6000 });
  assert.equal(parseVoiceCounters('grid_clients 3'), undefined);
});
