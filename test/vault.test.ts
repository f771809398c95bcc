import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { capabilities } from '../src/app/capabilities.ts';
import { buildRegistry, type SessionAuthenticator } from '../src/app/registry.ts';
import { createKey } from '../src/modules/projects/projects.service.ts';
import { createTollgate, type Tollgate } from '../src/server.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

// Everything the server logs (debug level) is captured here and searched for secret values.
let logged = '';
const logStream = new Writable({
  write(chunk, _enc, cb) {
    logged += chunk.toString();
    cb();
  },
});

// A stand-in for customer session tokens: `sess:<project>:<customer>`.
const testSessions: SessionAuthenticator = async (_ctx, token) => {
  const [kind, projectId, customerId] = token.split(':');
  if (kind !== 'sess' || !projectId || !customerId) return undefined;
  return { projectId, keyId: `sess_${customerId}`, kind: 'customer_session', scopes: [], customerId, actor: `customer:${customerId}` };
};

let h: Harness;
let tg: Tollgate; // a second instance on the same database, logging at debug level
beforeAll(async () => {
  h = await createHarness();
  tg = await createTollgate({
    config: h.config,
    db: h.db,
    clock: h.clock,
    runner: false,
    logger: { level: 'debug', stream: logStream },
    registry: buildRegistry([...capabilities, { name: 'test-sessions', sessionAuthenticators: [testSessions] }]),
  });
});
afterAll(async () => {
  await tg?.close();
  await h?.close();
});

const ava = () => h.project({ catalog: DEMO_CATALOGS.ava!.catalog });

async function call(key: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH', url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await tg.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${key}`, ...headers },
    ...(body !== undefined ? { payload: body as object } : {}),
  });
  let parsed: any;
  try {
    parsed = r.body ? JSON.parse(r.body) : undefined;
  } catch {
    parsed = r.body;
  }
  return { status: r.statusCode, body: parsed, raw: r.body, headers: r.headers };
}

async function auditActions(p: TestProject, customer: string): Promise<string[]> {
  const r = await p.call('GET', `/v1/audit?customer_id=${customer}`);
  return r.body.data.map((e: { action: string }) => e.action).reverse();
}

describe('vault', () => {
  it('stores a secret encrypted and shows only its name and preview in the reply and the list', async () => {
    const p = await ava();
    const value = 'sk-abc1-vapi-9f8e7d6c5b4a';
    const put = await p.call('PUT', '/v1/customers/u1/secrets/vapi_api_key', { value });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ object: 'secret', name: 'vapi_api_key', label: 'Vapi API key', preview: 'sk-abc…', key_id: 'k1' });
    expect(put.raw).not.toContain(value);
    const list = await p.call('GET', '/v1/customers/u1/secrets');
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ name: 'vapi_api_key', preview: 'sk-abc…' });
    expect(list.body.data[0].created_at).toBeTruthy();
    expect(list.body.data[0].updated_at).toBeTruthy();
    expect(list.raw).not.toContain(value);
    const row = await h.db.query<{ value_encrypted: string }>('SELECT value_encrypted FROM vault_secrets WHERE project_id = $1', [p.id]);
    expect(row.rows[0]?.value_encrypted).toMatch(/^v1:k1:/);
    expect(row.rows[0]?.value_encrypted).not.toContain(value);
  });

  it('reveals the value to a key with secrets:reveal, and audits it', async () => {
    const p = await ava();
    await p.call('PUT', '/v1/customers/u1/secrets/vapi_api_key', { value: 'sk-reveal-me-0001' });
    const r = await p.call('POST', '/v1/customers/u1/secrets/vapi_api_key/reveal');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'vapi_api_key', value: 'sk-reveal-me-0001' });
    expect(await auditActions(p, 'u1')).toEqual(['secret.stored', 'secret.revealed']);
  });

  it('replacing a secret keeps created_at and changes the value; delete removes it and is audited', async () => {
    const p = await ava();
    const a = await p.call('PUT', '/v1/customers/u1/secrets/openai_api_key', { value: 'sk-first-000000' });
    h.clock.advance(60_000);
    const b = await p.call('PUT', '/v1/customers/u1/secrets/openai_api_key', { value: 'sk-second-00000' });
    expect(b.body.created_at).toBe(a.body.created_at);
    expect(b.body.updated_at).not.toBe(a.body.updated_at);
    expect((await p.call('POST', '/v1/customers/u1/secrets/openai_api_key/reveal')).body.value).toBe('sk-second-00000');
    const d = await p.call('DELETE', '/v1/customers/u1/secrets/openai_api_key');
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ name: 'openai_api_key', deleted: true });
    expect((await p.call('GET', '/v1/customers/u1/secrets')).body.data).toEqual([]);
    expect((await p.call('POST', '/v1/customers/u1/secrets/openai_api_key/reveal')).status).toBe(404);
    expect((await p.call('DELETE', '/v1/customers/u1/secrets/openai_api_key')).status).toBe(404);
    expect(await auditActions(p, 'u1')).toEqual(['secret.stored', 'secret.stored', 'secret.revealed', 'secret.deleted']);
  });

  it('a ciphertext copied to another customer or name fails to decrypt', async () => {
    const p = await ava();
    await p.call('PUT', '/v1/customers/alice/secrets/vapi_api_key', { value: 'sk-alice-secret-1' });
    await p.call('PUT', '/v1/customers/bob/secrets/vapi_api_key', { value: 'sk-bob-secret-222' });
    await p.call('PUT', '/v1/customers/alice/secrets/twilio_auth_token', { value: 'tw-alice-token-3' });
    await h.db.query(
      `UPDATE vault_secrets SET value_encrypted = (SELECT value_encrypted FROM vault_secrets WHERE project_id = $1 AND customer_id = 'alice' AND name = 'vapi_api_key')
       WHERE project_id = $1 AND ((customer_id = 'bob' AND name = 'vapi_api_key') OR (customer_id = 'alice' AND name = 'twilio_auth_token'))`,
      [p.id],
    );
    const bob = await p.call('POST', '/v1/customers/bob/secrets/vapi_api_key/reveal');
    expect(bob.status).toBe(500);
    expect(bob.raw).not.toContain('sk-alice-secret-1');
    expect(bob.body.error.message).toMatch(/cannot be decrypted/);
    expect((await p.call('POST', '/v1/customers/alice/secrets/twilio_auth_token/reveal')).status).toBe(500);
    expect((await p.call('POST', '/v1/customers/alice/secrets/vapi_api_key/reveal')).body.value).toBe('sk-alice-secret-1');
  });

  it('rejects bad names and values with 400 and stores nothing', async () => {
    const p = await ava();
    const cases: [string, unknown, string][] = [
      ['/v1/customers/u1/secrets/Vapi_Key', { value: 'x1234567' }, 'name'],
      ['/v1/customers/u1/secrets/vapi_api_key', { value: '' }, 'value'],
      ['/v1/customers/u1/secrets/vapi_api_key', { value: 'x'.repeat(10 * 1024 + 1) }, 'value'],
      ['/v1/customers/u1/secrets/vapi_api_key', { value: 42 }, 'value'],
      ['/v1/customers/u1/secrets/vapi_api_key', { value: 'ok-value-1', extra: 1 }, ''],
      ['/v1/customers/u1/secrets/vapi_api_key', {}, 'value'],
    ];
    for (const [url, body, param] of cases) {
      const r = await p.call('PUT', url, body);
      expect(r.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      if (param) expect(r.body.error.param).toBe(param);
    }
    expect((await p.call('PUT', '/v1/customers/u1/secrets/vapi_api_key', { value: 'é'.repeat(5 * 1024) })).status).toBe(200);
    const n = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM vault_secrets WHERE project_id = $1', [p.id]);
    expect(n.rows[0]?.n).toBe(1);
  });

  it("another project's key sees none of a project's secrets", async () => {
    const p = await ava();
    const q = await ava();
    await p.call('PUT', '/v1/customers/u1/secrets/vapi_api_key', { value: 'sk-project-p-only' });
    // Project q has no customer u1: its list is a 404, like every read of an unknown customer.
    expect((await q.call('GET', '/v1/customers/u1/secrets')).body.error.code).toBe('customer_not_found');
    expect((await q.call('POST', '/v1/customers/u1/secrets/vapi_api_key/reveal')).status).toBe(404);
    expect((await q.call('GET', '/v1/customers/u1/secrets/vapi_api_key/resolve')).status).toBe(404);
  });

  it("resolve answers the customer's own key, else the project's platform key, and says which", async () => {
    const p = await ava();
    expect((await p.call('GET', '/v1/customers/u1/secrets/openai_api_key/resolve')).status).toBe(404);
    const plat = await p.call('PUT', '/v1/secrets/openai_api_key', { value: 'sk-platform-key-01' });
    expect(plat.status).toBe(200);
    expect(plat.body).toMatchObject({ name: 'openai_api_key', customer_id: null, preview: 'sk-pla…' });
    expect(plat.raw).not.toContain('sk-platform-key-01');
    const a = await p.call('GET', '/v1/customers/u1/secrets/openai_api_key/resolve');
    expect(a.body).toMatchObject({ source: 'platform', value: 'sk-platform-key-01' });
    await p.call('PUT', '/v1/customers/u1/secrets/openai_api_key', { value: 'sk-customer-own-02' });
    const b = await p.call('GET', '/v1/customers/u1/secrets/openai_api_key/resolve');
    expect(b.body).toMatchObject({ source: 'customer', value: 'sk-customer-own-02', preview: 'sk-cus…' });
    expect((await p.call('GET', '/v1/customers/u2/secrets/openai_api_key/resolve')).body.source).toBe('platform');
    expect((await p.call('GET', '/v1/secrets')).body.data.map((s: { name: string }) => s.name)).toEqual(['openai_api_key']);
    // The platform key is not a customer's secret.
    expect((await p.call('POST', '/v1/customers', { id: 'u2' })).status).toBe(201);
    expect((await p.call('GET', '/v1/customers/u2/secrets')).body.data).toEqual([]);
    expect((await p.call('DELETE', '/v1/secrets/openai_api_key')).status).toBe(200);
    expect((await p.call('GET', '/v1/customers/u2/secrets/openai_api_key/resolve')).status).toBe(404);
  });
});

describe('scopes', () => {
  it('a read-only key reads but gets 403 on every mutation and on reveal', async () => {
    const p = await ava();
    await p.call('PUT', '/v1/customers/u1/secrets/vapi_api_key', { value: 'sk-scoped-000001' });
    const ro = await createKey(h.db, p.id, { kind: 'secret', scopes: ['read'] });
    expect((await call(ro.key, 'GET', '/v1/customers/u1/secrets')).status).toBe(200);
    expect((await call(ro.key, 'GET', '/v1/customers/u1')).status).toBe(200);
    const writes: [string, string, unknown][] = [
      ['PUT', '/v1/customers/u1/secrets/vapi_api_key', { value: 'sk-overwrite-0001' }],
      ['DELETE', '/v1/customers/u1/secrets/vapi_api_key', undefined],
      ['PUT', '/v1/secrets/openai_api_key', { value: 'sk-overwrite-0002' }],
      ['PATCH', '/v1/customers/u1', { name: 'Mallory' }],
      ['POST', '/v1/customers/u1/onboarding/complete', undefined],
      ['POST', '/v1/customers/u1/credits/grant', { amount: 5 }],
      ['POST', '/v1/keys', { scopes: ['full'] }],
    ];
    for (const [method, url, body] of writes) {
      const r = await call(ro.key, method as 'PUT', url, body);
      expect(r.status, `${method} ${url}`).toBe(403);
      expect(r.body.error.code).toBe('forbidden');
    }
    expect((await call(ro.key, 'POST', '/v1/customers/u1/secrets/vapi_api_key/reveal')).status).toBe(403);
    expect((await call(ro.key, 'GET', '/v1/customers/u1/secrets/vapi_api_key/resolve')).status).toBe(403);
    expect((await p.call('POST', '/v1/customers/u1/secrets/vapi_api_key/reveal')).body.value).toBe('sk-scoped-000001');
    expect(await auditActions(p, 'u1')).toEqual(['secret.stored', 'secret.revealed']);
  });

  it('a full key without secrets:reveal cannot reveal or resolve; a read key with it can, but still cannot write', async () => {
    const p = await ava();
    await p.call('PUT', '/v1/customers/u1/secrets/vapi_api_key', { value: 'sk-scoped-000002' });
    const full = await createKey(h.db, p.id, { kind: 'secret', scopes: ['full'] });
    const r = await call(full.key, 'POST', '/v1/customers/u1/secrets/vapi_api_key/reveal');
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/secrets:reveal/);
    expect((await call(full.key, 'GET', '/v1/customers/u1/secrets/vapi_api_key/resolve')).status).toBe(403);
    expect((await call(full.key, 'PUT', '/v1/customers/u1/secrets/vapi_api_key', { value: 'sk-by-full-key-01' })).status).toBe(200);
    const backend = await createKey(h.db, p.id, { kind: 'secret', scopes: ['read', 'secrets:reveal'] });
    expect((await call(backend.key, 'POST', '/v1/customers/u1/secrets/vapi_api_key/reveal')).body.value).toBe('sk-by-full-key-01');
    expect((await call(backend.key, 'GET', '/v1/customers/u1/secrets/vapi_api_key/resolve')).body.source).toBe('customer');
    expect((await call(backend.key, 'DELETE', '/v1/customers/u1/secrets/vapi_api_key')).status).toBe(403);
    expect((await call(p.publishableKey, 'GET', '/v1/customers/u1/secrets')).status).toBe(403);
  });
});

describe('customer sessions', () => {
  it("a customer's browser session stores, lists and deletes its own secrets but never reveals them", async () => {
    const p = await ava();
    const mine = `sess:${p.id}:u1`;
    expect((await call(mine, 'PUT', '/v1/customers/u1/secrets/vapi_api_key', { value: 'sk-from-browser-1' })).status).toBe(200);
    expect((await call(mine, 'GET', '/v1/customers/u1/secrets')).body.data[0].preview).toBe('sk-fro…');
    expect((await call(mine, 'POST', '/v1/customers/u1/secrets/vapi_api_key/reveal')).status).toBe(403);
    expect((await call(mine, 'GET', '/v1/customers/u1/secrets/vapi_api_key/resolve')).status).toBe(403);
    expect((await call(mine, 'PUT', '/v1/customers/u2/secrets/vapi_api_key', { value: 'sk-other-custom-1' })).status).toBe(403);
    expect((await call(mine, 'GET', '/v1/customers/u2/secrets')).status).toBe(403);
    expect((await call(mine, 'PATCH', '/v1/customers/u1', { onboarding: { steps: { vapi: 'completed' } } })).status).toBe(200);
    expect((await call(mine, 'PATCH', '/v1/customers/u1', { metadata: { plan: 'enterprise' } })).status).toBe(403);
    expect((await call(mine, 'PUT', '/v1/secrets/openai_api_key', { value: 'sk-platform-hijack' })).status).toBe(403);
    const audit = await p.call('GET', '/v1/audit?customer_id=u1');
    // The onboarding change is audited too (newest first); the secret's entry names the customer and its address.
    const actions = audit.body.data.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['secret.stored', 'customer.profile_updated']));
    const stored = audit.body.data.find((e: { action: string }) => e.action === 'secret.stored');
    expect(stored).toMatchObject({ action: 'secret.stored', actor: 'customer:u1' });
    expect(stored.ip).toBeTruthy();
    expect((await call(mine, 'DELETE', '/v1/customers/u1/secrets/vapi_api_key')).status).toBe(200);
  });
});

describe('the raw value never leaves the vault', () => {
  it('appears in no log line, error, outbox event, audit entry or stored idempotent reply', async () => {
    const p = await ava();
    const secret = 'sk-LEAKCHECK-7f3a9c21e5b04d68';
    const platform = 'sk-PLATLEAK-0c9d8e7f6a5b4c3d';
    const idem = (k: string) => ({ 'idempotency-key': `${p.id}-${k}` });
    const calls = [
      await call(p.key, 'PUT', '/v1/customers/leaky/secrets/vapi_api_key', { value: secret }, idem('put')),
      await call(p.key, 'PUT', '/v1/customers/leaky/secrets/vapi_api_key', { value: secret }, idem('put')), // replay
      await call(p.key, 'PUT', '/v1/customers/leaky/secrets/vapi_api_key', { value: `${secret}x` }, idem('put')), // conflict
      await call(p.key, 'GET', '/v1/customers/leaky/secrets'),
      await call(p.key, 'GET', '/v1/customers/leaky'),
      await call(p.key, 'PATCH', '/v1/customers/leaky', { name: 'Leaky', onboarding: { steps: { vapi: 'completed' } } }),
      await call(p.key, 'PUT', '/v1/secrets/openai_api_key', { value: platform }, idem('plat')),
      await call(p.key, 'PUT', '/v1/customers/leaky/secrets/BAD', { value: secret }),
      await call(p.key, 'PUT', '/v1/customers/leaky/secrets/vapi_api_key', { value: secret, nope: secret }),
      await call(p.key, 'PUT', '/v1/customers/leaky/secrets/vapi_api_key', `{"value": ${secret}}`, { 'content-type': 'application/json' }),
      await call(p.key, 'PUT', '/v1/customers/leaky/secrets/vapi_api_key', `{"value": "${secret}"`, { 'content-type': 'application/json' }),
      await call(p.key, 'DELETE', '/v1/customers/leaky/secrets/other', undefined, idem('del')),
    ];
    expect(calls[0]?.status).toBe(200);
    expect(calls[1]?.headers['idempotent-replayed']).toBe('true');
    expect(calls[2]?.status).toBe(409);
    expect(calls.slice(7, 11).map((c) => c.status)).toEqual([400, 400, 400, 400]);
    for (const c of calls) {
      expect(c.raw).not.toContain(secret);
      expect(c.raw).not.toContain(platform);
    }
    // The two calls that must return the value: reveal (also with an Idempotency-Key) and resolve.
    const reveal = await call(p.key, 'POST', '/v1/customers/leaky/secrets/vapi_api_key/reveal', undefined, idem('reveal'));
    expect(reveal.body.value).toBe(secret);
    const resolve = await call(p.key, 'GET', '/v1/customers/u9/secrets/openai_api_key/resolve');
    expect(resolve.body.value).toBe(platform);

    const stored = await h.db.query<{ text: string }>(
      `SELECT string_agg(t, E'\\n') AS text FROM (
         SELECT payload::text AS t FROM outbox_events WHERE project_id = $1
         UNION ALL SELECT row_to_json(a)::text FROM audit_log a WHERE project_id = $1
         UNION ALL SELECT row_to_json(i)::text FROM idempotency_keys i WHERE project_id = $1
         UNION ALL SELECT row_to_json(v)::text FROM vault_secrets v WHERE project_id = $1
         UNION ALL SELECT row_to_json(c)::text FROM customers c WHERE project_id = $1
         UNION ALL SELECT row_to_json(cp)::text FROM customer_profiles cp WHERE project_id = $1
       ) x`,
      [p.id],
    );
    const everything = `${logged}\n${stored.rows[0]?.text ?? ''}`;
    expect(logged).toContain('/v1/customers/leaky/secrets/vapi_api_key/reveal'); // the log stream really captured requests
    expect(stored.rows[0]?.text).toContain('secret.revealed');
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(platform);
    expect(everything).not.toContain(Buffer.from(secret).toString('base64'));
  });
});
