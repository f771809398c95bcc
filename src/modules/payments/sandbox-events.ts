import type { AppContext } from '../../app/context.ts';
import { randomToken } from '../../domain/ids.ts';
import type { ProviderProject } from '../../providers/provider.ts';
import { type SandboxEvent, signSandboxEvent } from '../../providers/sandbox/sandbox.provider.ts';

/**
 * Sends a signed sandbox event through the public webhook route, exactly as an outside provider
 * would, and waits for the answer; the sandbox hosted page and test helpers use it.
 */
export async function sendSandboxEvent(
  ctx: AppContext,
  project: ProviderProject,
  type: string,
  object: Record<string, unknown>,
  eventId = `evt_sbx_${randomToken(20)}`,
): Promise<SandboxEvent> {
  const now = ctx.clock.now();
  const event: SandboxEvent = { id: eventId, type, created: Math.floor(now.getTime() / 1000), livemode: false, data: { object } };
  const body = JSON.stringify(event);
  if (!ctx.deliverWebhook) throw new Error('webhook delivery is not wired');
  const res = await ctx.deliverWebhook({
    provider: 'sandbox',
    projectId: project.id,
    headers: signSandboxEvent(project, body, eventId, now),
    body,
  });
  if (res.status >= 300) throw new Error(`sandbox webhook answered ${res.status}: ${res.body}`);
  return event;
}
