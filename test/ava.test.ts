import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.ts';
import { type Db, openDb } from '../src/db/db.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { pushCatalog } from '../src/modules/catalog/catalog.service.ts';
import { createProject } from '../src/modules/projects/projects.service.ts';
import { createTollgate, type Tollgate } from '../src/server.ts';
import { testConfig } from './support/harness.ts';

// A real restart: the server and its database connection are closed and opened again
// (PGlite in a data dir on disk, or the same PostgreSQL database).
const dir = mkdtempSync(join(tmpdir(), 'tollgate-ava-'));
const clock = new ManualClock('2026-03-01T10:00:00Z');
let db: Db | undefined;
let tg: Tollgate | undefined;

async function boot(): Promise<Tollgate> {
  db = await openDb({ databaseUrl: process.env.DATABASE_URL, dataDir: dir, poolSize: 4 });
  tg = await createTollgate({ config: testConfig(), db, clock, runner: false });
  return tg;
}
async function shutdown(): Promise<void> {
  await tg?.close();
  await db?.close();
  tg = undefined;
  db = undefined;
}
afterAll(async () => {
  await shutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe("Ava's onboarding", () => {
  it('sign-up, profile, Vapi key, Twilio skipped, studio config, restart, completion: everything is still there', async () => {
    let app = (await boot()).app;
    const projectId = `ava-${randomToken(8).toLowerCase()}`;
    const { secretKey } = await createProject(tg!.ctx, { id: projectId, name: 'Ava' });
    await pushCatalog(tg!.ctx, projectId, DEMO_CATALOGS.ava!.catalog);
    const call = async (method: InjectOptions['method'], url: string, body?: unknown) => {
      const r = await app.inject({ method, url, headers: { authorization: `Bearer ${secretKey.key}` }, ...(body ? { payload: body as object } : {}) });
      return { status: r.statusCode, body: JSON.parse(r.body), raw: r.body };
    };

    // Sign-up.
    expect((await call('POST', '/v1/customers', { id: 'clinic-42', email: 'ops@clinic.example', name: 'Clinic 42' })).status).toBe(201);
    // Profile.
    const prof = await call('PATCH', '/v1/customers/clinic-42', {
      organization: 'Clinique 42',
      industry: 'healthcare',
      timezone: 'Europe/Paris',
      locale: 'fr-FR',
      marketing_opt_in: false,
      terms_accepted_at: '2026-03-01T10:00:00Z',
    });
    expect(prof.status).toBe(200);
    // Vapi key: stored, shown as a preview.
    const vapi = 'vapi-3f1c2b9a-77d4-4e21-9c0b-5a6e1d2f8b90';
    const put = await call('PUT', '/v1/customers/clinic-42/secrets/vapi_api_key', { value: vapi });
    expect(put.body.preview).toBe('vapi-3…');
    expect(put.raw).not.toContain(vapi);
    await call('PATCH', '/v1/customers/clinic-42', { onboarding: { steps: { vapi: 'completed' } } });
    // Twilio skipped.
    await call('PATCH', '/v1/customers/clinic-42', { onboarding: { steps: { twilio: 'skipped' } } });
    // Studio configuration.
    const studio = {
      persona: 'Ava, the clinic receptionist',
      languages: ['fr', 'en'],
      tone: 'formal',
      number: '+33198765432',
      business_hours: { timezone: 'Europe/Paris', days: ['mon', 'tue', 'wed', 'thu', 'fri'], open: '08:30', close: '19:00' },
      fallback_email: 'desk@clinic.example',
      workspace_apps: ['google_calendar'],
    };
    expect((await call('PATCH', '/v1/customers/clinic-42', { settings: { studio }, onboarding: { steps: { assistant: 'completed' } } })).status).toBe(200);
    const before = (await call('GET', '/v1/customers/clinic-42')).body;

    // Restart.
    await shutdown();
    clock.advance(3600_000);
    app = (await boot()).app;

    const done = await call('POST', '/v1/customers/clinic-42/onboarding/complete');
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('completed');
    const after = (await call('GET', '/v1/customers/clinic-42')).body;
    expect(after).toMatchObject({
      id: 'clinic-42',
      email: 'ops@clinic.example',
      organization: 'Clinique 42',
      industry: 'healthcare',
      timezone: 'Europe/Paris',
      locale: 'fr-FR',
      marketing_opt_in: false,
      settings: { studio },
      onboarding: { status: 'completed', completed_at: '2026-03-01T11:00:00.000Z' },
    });
    expect(after.onboarding.steps).toEqual(before.onboarding.steps);
    expect(after.onboarding.steps.map((s: { status: string }) => s.status)).toEqual(['completed', 'skipped', 'completed']);
    const list = await call('GET', '/v1/customers/clinic-42/secrets');
    expect(list.body.data.map((s: { name: string; preview: string }) => [s.name, s.preview])).toEqual([['vapi_api_key', 'vapi-3…']]);
    expect((await call('POST', '/v1/customers/clinic-42/secrets/vapi_api_key/reveal')).body.value).toBe(vapi);
    const audit = await call('GET', '/v1/audit?customer_id=clinic-42&action=secret');
    expect(audit.body.data.map((e: { action: string }) => e.action)).toEqual(['secret.revealed', 'secret.stored']);
  });
});

describe("issue 11 item 20: the Ava demo accepts the Ava product's own payloads", () => {
  it('studio settings plan, tone professional, string business_hours, calendar, crm and profile full_name, organization_name, accept_terms → 200 and stored; current_step_index', async () => {
    const app = (await boot()).app;
    const projectId = `ava-${randomToken(8).toLowerCase()}`;
    const { secretKey } = await createProject(tg!.ctx, { id: projectId, name: 'Ava' });
    await pushCatalog(tg!.ctx, projectId, DEMO_CATALOGS.ava!.catalog);
    const call = async (method: InjectOptions['method'], url: string, body?: unknown) => {
      const r = await app.inject({ method, url, headers: { authorization: `Bearer ${secretKey.key}` }, ...(body ? { payload: body as object } : {}) });
      return { status: r.statusCode, body: JSON.parse(r.body) };
    };
    expect((await call('POST', '/v1/customers', { id: 'clinic-7', email: 'ops@clinic7.example' })).status).toBe(201);
    expect((await call('GET', '/v1/customers/clinic-7')).body.onboarding.current_step_index).toBe(0);

    const prof = await call('PATCH', '/v1/customers/clinic-7', { full_name: 'Dr. Jeanne Martin', organization_name: 'Clinique Sept', accept_terms: true });
    expect(prof.status).toBe(200);
    expect(prof.body).toMatchObject({ name: 'Dr. Jeanne Martin', organization: 'Clinique Sept', terms_accepted_at: clock.now().toISOString() });
    const accepted = prof.body.terms_accepted_at;
    clock.advance(60_000);
    // Accepting again keeps the first acceptance.
    expect((await call('PATCH', '/v1/customers/clinic-7', { accept_terms: true })).body.terms_accepted_at).toBe(accepted);

    const studio = {
      plan: 'pro',
      persona: 'Ava, the front desk',
      tone: 'professional',
      business_hours: 'Mon–Fri 08:30–19:00',
      calendar: 'google_calendar',
      crm: 'hubspot',
    };
    const saved = await call('PATCH', '/v1/customers/clinic-7', { settings: { studio }, onboarding: { steps: { vapi: 'completed' } } });
    expect(saved.status).toBe(200);
    expect(saved.body.onboarding.current_step_index).toBe(1);
    const got = (await call('GET', '/v1/customers/clinic-7')).body;
    expect(got.settings.studio).toEqual(studio);
    expect(got.name).toBe('Dr. Jeanne Martin');
    expect(got.organization).toBe('Clinique Sept');
    // A tone outside the list is still refused.
    expect((await call('PATCH', '/v1/customers/clinic-7', { settings: { studio: { ...studio, tone: 'rude' } } })).status).toBe(400);
    await shutdown();
  });
});
