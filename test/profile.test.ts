import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const ava = () => h.project({ catalog: DEMO_CATALOGS.ava!.catalog });

async function events(p: TestProject, type?: string): Promise<{ type: string; data: any }[]> {
  const r = await h.db.query<{ payload: { type: string; data: unknown } }>(
    'SELECT payload FROM outbox_events WHERE project_id = $1 AND ($2::text IS NULL OR type = $2) ORDER BY seq',
    [p.id, type ?? null],
  );
  return r.rows.map((x) => x.payload as { type: string; data: any });
}

const studio = {
  persona: 'Ava, the front desk of a dental clinic',
  job_to_be_done: 'book appointments',
  languages: ['fr', 'en'],
  tone: 'friendly',
  number: '+33123456789',
  business_hours: { timezone: 'Europe/Paris', days: ['mon', 'tue'], open: '09:00', close: '18:00' },
  fallback_email: 'desk@clinic.example',
};

describe('customer profile', () => {
  it('PATCH stores profile fields and settings, creates the customer on first use, and GET shows them', async () => {
    const p = await ava();
    const r = await p.call('PATCH', '/v1/customers/ava-1', {
      name: 'Dr Martin',
      email: 'martin@clinic.example',
      organization: 'Clinique Martin',
      industry: 'healthcare',
      timezone: 'Europe/Paris',
      locale: 'fr-FR',
      marketing_opt_in: true,
      terms_accepted_at: '2026-03-01T09:59:00Z',
      metadata: { plan_hint: 'pro' },
      settings: { studio },
    });
    expect(r.status).toBe(200);
    const g = await p.call('GET', '/v1/customers/ava-1');
    for (const body of [r.body, g.body]) {
      expect(body).toMatchObject({
        id: 'ava-1',
        name: 'Dr Martin',
        email: 'martin@clinic.example',
        organization: 'Clinique Martin',
        industry: 'healthcare',
        timezone: 'Europe/Paris',
        locale: 'fr-FR',
        marketing_opt_in: true,
        metadata: { plan_hint: 'pro' },
        settings: { studio },
      });
      expect(new Date(body.terms_accepted_at).toISOString()).toBe('2026-03-01T09:59:00.000Z');
      expect(body.onboarding).toMatchObject({ status: 'not_started', completed_at: null });
      expect(body.onboarding.steps.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
        ['vapi', 'pending'],
        ['twilio', 'pending'],
        ['assistant', 'pending'],
      ]);
    }
    const ev = await events(p);
    expect(ev.map((e) => e.type)).toEqual(['customer.created', 'customer.updated']);
    expect(ev[1]?.data.changed).toEqual(expect.arrayContaining(['name', 'organization', 'settings.studio']));
  });

  it('rejects settings that break the catalog schema with a 400 naming the field, and changes nothing', async () => {
    const p = await ava();
    await p.call('PATCH', '/v1/customers/c1', { settings: { studio: { tone: 'formal' } }, organization: 'Before' });
    const bad: [unknown, string][] = [
      [{ studio: { tone: 'grumpy' } }, 'settings.studio.tone'],
      [{ studio: { number: '0612' } }, 'settings.studio.number'],
      [{ studio: { fallback_email: 'not-an-email' } }, 'settings.studio.fallback_email'],
      [{ studio: { languages: ['fr', 7] } }, 'settings.studio.languages.1'],
      [{ studio: { business_hours: { open: '9h' } } }, 'settings.studio.business_hours.open'],
      [{ studio: { favourite_colour: 'blue' } }, 'settings.studio.favourite_colour'],
      [{ studio: 'text' }, 'settings.studio'],
      [{ billing: { x: 1 } }, 'settings.billing'],
    ];
    for (const [settings, param] of bad) {
      const r = await p.call('PATCH', '/v1/customers/c1', { settings, organization: 'After' });
      expect(r.status, JSON.stringify(settings)).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', param });
    }
    const g = await p.call('GET', '/v1/customers/c1');
    expect(g.body.settings).toEqual({ studio: { tone: 'formal' } });
    expect(g.body.organization).toBe('Before');
  });

  it('rejects bad profile fields and unknown onboarding steps with 400', async () => {
    const p = await ava();
    const bad: [Record<string, unknown>, string][] = [
      [{ timezone: 'Mars/Olympus' }, 'timezone'],
      [{ timezone: '+01:00' }, 'timezone'],
      [{ locale: 'not a locale!' }, 'locale'],
      [{ marketing_opt_in: 'yes' }, 'marketing_opt_in'],
      [{ terms_accepted_at: 'yesterday' }, 'terms_accepted_at'],
      [{ email: 'nope' }, 'email'],
      [{ onboarding: { steps: { stripe: 'completed' } } }, 'onboarding.steps.stripe'],
      [{ onboarding: { steps: { vapi: 'done' } } }, 'onboarding.steps.vapi'],
    ];
    for (const [body, param] of bad) {
      const r = await p.call('PATCH', '/v1/customers/c2', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.param).toBe(param);
    }
    expect((await p.call('PATCH', '/v1/customers/c2', { unknown_field: 1 })).status).toBe(400);
    expect((await p.call('GET', '/v1/customers/c2')).status).toBe(404);
  });

  it('without a settings schema in the catalog, settings are free-form; null removes a key', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await p.call('PATCH', '/v1/customers/c3', { settings: { ui: { theme: 'dark' }, beta: { on: true } } });
    const r = await p.call('PATCH', '/v1/customers/c3', { settings: { beta: null } });
    expect(r.body.settings).toEqual({ ui: { theme: 'dark' } });
  });

  it('a catalog whose settings schema is not valid JSON schema is refused at push', async () => {
    const p = await ava();
    const catalog = { ...DEMO_CATALOGS.ava!.catalog, settings_schema: { studio: { type: 'nonsense' } } };
    const r = await p.call('PUT', '/v1/catalog', catalog);
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('settings_schema.studio');
  });
});

describe('onboarding', () => {
  it('steps are completed or skipped with a time; completion waits for every required step', async () => {
    const p = await ava();
    const a = await p.call('PATCH', '/v1/customers/o1', { onboarding: { steps: { vapi: 'completed' } } });
    expect(a.body.onboarding.status).toBe('in_progress');
    expect(a.body.onboarding.steps[0]).toMatchObject({ id: 'vapi', status: 'completed', at: '2026-03-01T10:00:00.000Z' });
    const early = await p.call('POST', '/v1/customers/o1/onboarding/complete');
    expect(early.status).toBe(409);
    expect(early.body.error).toMatchObject({ code: 'conflict', pending_steps: ['assistant'] });
    h.clock.advance(5 * 60_000);
    await p.call('PATCH', '/v1/customers/o1', { onboarding: { steps: { assistant: 'skipped' } } });
    // twilio is optional: it may stay pending.
    const done = await p.call('POST', '/v1/customers/o1/onboarding/complete', undefined, { 'idempotency-key': `${p.id}-complete` });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', customer_id: 'o1' });
    expect(done.body.steps.map((s: { status: string }) => s.status)).toEqual(['completed', 'pending', 'skipped']);
    expect(done.body.steps[2].at).not.toBe(done.body.steps[0].at);
    const again = await p.call('POST', '/v1/customers/o1/onboarding/complete');
    expect(again.body.completed_at).toBe(done.body.completed_at);
    const types = (await events(p)).map((e) => e.type).filter((t) => t.startsWith('onboarding.'));
    // issue 11 item 20: a start event, a skipped step is step_skipped, completion says how long it took.
    expect(types).toEqual(['onboarding.started', 'onboarding.step_completed', 'onboarding.step_skipped', 'onboarding.completed']);
    expect((await events(p, 'onboarding.step_completed')).map((e) => [e.data.step, e.data.status])).toEqual([['vapi', 'completed']]);
    expect((await events(p, 'onboarding.step_skipped')).map((e) => [e.data.step, e.data.status])).toEqual([['assistant', 'skipped']]);
    expect((await events(p, 'onboarding.started'))[0]?.data.started_at).toBe('2026-03-01T10:00:00.000Z');
    expect((await events(p, 'onboarding.completed'))[0]?.data.duration_seconds).toBe(5 * 60);
  });

  it('repeating a step with the same status changes nothing and emits nothing', async () => {
    const p = await ava();
    const a = await p.call('PATCH', '/v1/customers/o2', { onboarding: { steps: { vapi: 'completed' } } });
    h.clock.advance(60_000);
    const b = await p.call('PATCH', '/v1/customers/o2', { onboarding: { steps: { vapi: 'completed' } } });
    expect(b.body.onboarding.steps[0].at).toBe(a.body.onboarding.steps[0].at);
    expect((await events(p, 'onboarding.step_completed')).length).toBe(1);
    expect((await events(p, 'customer.updated')).length).toBe(1);
  });

  it("another project's key cannot read or change a customer", async () => {
    const p = await ava();
    const q = await ava();
    await p.call('PATCH', '/v1/customers/o3', { organization: 'P only' });
    expect((await q.call('GET', '/v1/customers/o3')).status).toBe(404);
    await q.call('PATCH', '/v1/customers/o3', { organization: 'Q' });
    expect((await p.call('GET', '/v1/customers/o3')).body.organization).toBe('P only');
  });
});

describe('issue 11 item 18: profile, settings and onboarding changes are audited', () => {
  it('each change is one audit row with actor, action and the changed fields before and after; no change, no row', async () => {
    const p = await ava();
    await p.call('PATCH', '/v1/customers/au1', { name: 'Dr Martin', organization: 'Before', settings: { studio: { ...studio, tone: 'formal' } } });
    await p.call('PATCH', '/v1/customers/au1', { organization: 'After', settings: { studio } });
    await p.call('PATCH', '/v1/customers/au1', { organization: 'After' }); // nothing changes
    await p.call('PATCH', '/v1/customers/au1', { onboarding: { steps: { vapi: 'completed', assistant: 'skipped' } } });
    expect((await p.call('POST', '/v1/customers/au1/onboarding/complete')).status).toBe(200);
    const log = await p.call('GET', '/v1/audit?customer_id=au1');
    expect(log.status).toBe(200);
    const rows = [...log.body.data].reverse();
    expect(rows.map((r: { action: string }) => r.action)).toEqual([
      'customer.profile_updated',
      'customer.profile_updated',
      'customer.profile_updated',
      'onboarding.completed',
    ]);
    expect(rows.every((r: { actor: string }) => typeof r.actor === 'string' && r.actor.length > 0)).toBe(true);
    expect(rows[1].details).toEqual({
      changed: ['organization', 'settings.studio'],
      before: { organization: 'Before', 'settings.studio': { ...studio, tone: 'formal' } },
      after: { organization: 'After', 'settings.studio': studio },
    });
    expect(rows[2].details).toEqual({
      changed: ['onboarding.steps.vapi', 'onboarding.steps.assistant'],
      before: { 'onboarding.steps.vapi': null, 'onboarding.steps.assistant': null },
      after: { 'onboarding.steps.vapi': 'completed', 'onboarding.steps.assistant': 'skipped' },
    });
    expect(rows[3].details.after.completed_at).toBeTruthy();
  });
});
