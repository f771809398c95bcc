import type { AppContext } from '../app/context.ts';


/**
 * Runs every job until none has anything left to do (bounded), so a clock advanced by a month
 * renews period after period. Safe with many instances: each job claims its own rows.
 */
export async function runDueJobs(ctx: AppContext, maxRounds = 100): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (let round = 0; round < maxRounds; round++) {
    let did = 0;
    for (const job of ctx.registry.jobs) {
      try {
        const n = await job.run(ctx);
        if (n > 0) totals[job.name] = (totals[job.name] ?? 0) + n;
        did += n;
      } catch (err) {
        ctx.log.error({ err, job: job.name }, 'background job failed');
      }
    }
    if (did === 0) break;
  }
  return totals;
}

export interface Runner {
  stop(): Promise<void>;
}

export function startRunner(ctx: AppContext, intervalMs: number): Runner {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = runDueJobs(ctx, 10).finally(() => {
      running = null;
    });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (running) await running;
    },
  };
}
