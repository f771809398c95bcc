import { expect } from 'vitest';
import type { GroupCommit } from '../../src/db/group-commit.ts';
import type { Res } from './harness.ts';

/**
 * Lines requests up in ONE batch of a group-commit batcher: each request is sent once the previous
 * one is queued (so arrival order is the order given), with the batcher paused, then the batch goes.
 * No sleep: the requests only need turns of the event loop to reach the queue.
 */
// biome-ignore lint/suspicious/noExplicitAny: any batcher (its op and reply types do not matter here)
export function lineUp(batcher: () => GroupCommit<any, any>) {
  async function queued(n: number): Promise<void> {
    for (let i = 0; i < 10_000 && batcher().pending < n; i++) await new Promise((r) => setImmediate(r));
    expect(batcher().pending).toBe(n);
  }
  async function oneBatch(sends: (() => Promise<Res>)[]): Promise<{ replies: Res[]; batches: number }> {
    const before = batcher().stats.batches;
    const release = batcher().pause();
    const pending: Promise<Res>[] = [];
    for (const [i, send] of sends.entries()) {
      pending.push(send());
      await queued(i + 1);
    }
    release();
    const replies = await Promise.all(pending);
    return { replies, batches: batcher().stats.batches - before };
  }
  return { queued, oneBatch };
}
