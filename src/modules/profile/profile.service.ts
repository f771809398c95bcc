import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import type { Catalog } from '../../domain/catalog.ts';
import { ConflictError, ForbiddenError, InvalidRequestError } from '../../domain/errors.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { type CatalogPushHook, getCatalog } from '../catalog/catalog.service.ts';
import { coreFieldsChange, type CustomerViewExtension, customersRepository, customerView, ensureCustomer } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import { audit } from '../audit/audit.service.ts';
import * as repo from './profile.repository.ts';
import { assertValidSchema, settingsError, settingsValidator } from './settings-schema.ts';

const Timezone = z
  .string()
  .max(64)
  .refine((tz) => {
    if (!/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false;
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as "Europe/Paris"');

const Locale = z
  .string()
  .max(35)
  .refine((l) => {
    try {
      return Intl.getCanonicalLocales(l).length === 1;
    } catch {
      return false;
    }
  }, 'must be a BCP 47 locale such as "fr-FR"');

export const PatchCustomerBody = z
  .object({
    email: z.email().max(320).nullable().optional(),
    name: z.string().max(200).nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    organization: z.string().max(200).nullable().optional(),
    industry: z.string().max(200).nullable().optional(),
    timezone: Timezone.nullable().optional(),
    locale: Locale.nullable().optional(),
    marketing_opt_in: z.boolean().nullable().optional(),
    terms_accepted_at: z.iso.datetime({ offset: true }).nullable().optional(),
    /** Aliases some products send: `full_name` is `name`, `organization_name` is `organization`. */
    full_name: z.string().max(200).nullable().optional(),
    organization_name: z.string().max(200).nullable().optional(),
    /** `true` records the terms as accepted now (kept if already accepted); `false` clears them. */
    accept_terms: z.boolean().optional(),
    /** Settings objects by key; each replaces the stored one whole (null removes it). */
    settings: z.record(z.string().min(1).max(64), z.unknown()).optional(),
    onboarding: z.object({ steps: z.record(z.string().min(1).max(64), z.enum(['completed', 'skipped'])) }).strict().optional(),
  })
  .strict();
export type PatchCustomer = z.infer<typeof PatchCustomerBody>;

const PROFILE_FIELDS = ['organization', 'industry', 'timezone', 'locale', 'marketing_opt_in', 'terms_accepted_at'] as const;

function emptyProfile(projectId: string, customerId: string, at: Date): repo.ProfileRow {
  return {
    project_id: projectId,
    customer_id: customerId,
    organization: null,
    industry: null,
    timezone: null,
    locale: null,
    marketing_opt_in: null,
    terms_accepted_at: null,
    settings: {},
    onboarding_steps: {},
    onboarding_completed_at: null,
    updated_at: at,
  };
}

export function onboardingView(catalog: Catalog, p: repo.ProfileRow) {
  const steps = (catalog.onboarding?.steps ?? []).map((s) => {
    const st = p.onboarding_steps[s.id];
    return { id: s.id, name: s.name, optional: s.optional, status: st?.status ?? 'pending', at: st?.at ?? null };
  });
  const started = steps.some((s) => s.status !== 'pending');
  const next = steps.findIndex((s) => s.status === 'pending');
  return {
    status: p.onboarding_completed_at ? 'completed' : started ? 'in_progress' : 'not_started',
    completed_at: p.onboarding_completed_at,
    /** 0-based index of the first step still pending; null once none is. */
    current_step_index: p.onboarding_completed_at || next < 0 ? null : next,
    steps,
  };
}

function profileView(catalog: Catalog, p: repo.ProfileRow) {
  return {
    organization: p.organization,
    industry: p.industry,
    timezone: p.timezone,
    locale: p.locale,
    marketing_opt_in: p.marketing_opt_in,
    terms_accepted_at: p.terms_accepted_at,
    settings: p.settings,
    onboarding: onboardingView(catalog, p),
  };
}

/** The customer's profile fields and onboarding progress in the customer view. */
export const profileCustomerView: CustomerViewExtension = async (ctx, q, c) => {
  const { catalog } = await getCatalog(ctx, c.project_id);
  const p = (await repo.findProfile(q, c.project_id, c.id)) ?? emptyProfile(c.project_id, c.id, c.updated_at);
  return profileView(catalog, p);
};

// A settings schema must compile before the catalog holding it is accepted.
export const validateSettingsSchemasOnPush: CatalogPushHook = async (_ctx, _q, e) => {
  for (const [key, schema] of Object.entries(e.next.settings_schema ?? {})) assertValidSchema(key, schema);
};

function validateSettings(projectId: string, version: number, catalog: Catalog, settings: Record<string, unknown>): void {
  const schemas = catalog.settings_schema;
  for (const [key, value] of Object.entries(settings)) {
    if (value === null) continue;
    if (!schemas) continue; // no schemas declared: settings are free-form
    const schema = schemas[key];
    if (!schema) {
      throw new InvalidRequestError(
        `Invalid parameter 'settings.${key}': unknown settings key (the catalog declares ${Object.keys(schemas).join(', ') || 'none'})`,
        `settings.${key}`,
      );
    }
    const validate = settingsValidator(`${projectId}:${version}:${key}`, schema);
    if (!validate(value)) throw settingsError(key, validate.errors?.[0]);
  }
}

function validateSteps(catalog: Catalog, steps: Record<string, unknown>): void {
  const stepIds = new Set((catalog.onboarding?.steps ?? []).map((s) => s.id));
  for (const step of Object.keys(steps)) {
    if (stepIds.has(step)) continue;
    throw new InvalidRequestError(
      `Invalid parameter 'onboarding.steps.${step}': unknown onboarding step (the catalog declares ${[...stepIds].join(', ') || 'none'})`,
      `onboarding.steps.${step}`,
    );
  }
}

/** The app's own metadata is not the browser's to change. */
function assertCallerMayPatch(caller: Caller, body: PatchCustomer): void {
  if (caller.kind === 'customer_session' && body.metadata !== undefined) {
    throw new ForbiddenError('A customer session cannot change metadata; use a secret key');
  }
}

/** Refuses steps and settings the catalog does not declare, before anything is written. */
function validatePatch(caller: Caller, version: number, catalog: Catalog, body: PatchCustomer): void {
  validateSteps(catalog, body.onboarding?.steps ?? {});
  if (body.settings) validateSettings(caller.projectId, version, catalog, body.settings);
}

type Customer = Awaited<ReturnType<typeof ensureCustomer>>['customer'];

/** Email, name and metadata live on the customer row; updated only when one of them changes. */
async function patchCore(q: Queryable, customer: Customer, body: PatchCustomer, at: Date, changed: string[]): Promise<Customer> {
  const core = { email: body.email, name: body.name, metadata: body.metadata };
  if (!coreFieldsChange(customer, core)) return customer;
  for (const f of ['email', 'name', 'metadata'] as const) if (core[f] !== undefined) changed.push(f);
  return (await customersRepository.updateCustomer(q, customer.project_id, customer.id, core, at)) ?? customer;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;
}

function patchProfileFields(before: repo.ProfileRow, next: repo.ProfileRow, body: PatchCustomer, changed: string[]): void {
  for (const f of PROFILE_FIELDS) {
    const v = body[f];
    if (v === undefined) continue;
    const value = f === 'terms_accepted_at' && typeof v === 'string' ? new Date(v) : v;
    if (sameValue(before[f], value)) continue;
    (next as unknown as Record<string, unknown>)[f] = value;
    changed.push(f);
  }
}

/** Each settings object replaces the stored one whole; null removes it. */
function patchSettings(before: repo.ProfileRow, next: repo.ProfileRow, settings: Record<string, unknown>, changed: string[]): void {
  for (const [key, value] of Object.entries(settings)) {
    if (JSON.stringify(before.settings[key] ?? null) === JSON.stringify(value ?? null)) continue;
    if (value === null) delete next.settings[key];
    else next.settings[key] = value;
    changed.push(`settings.${key}`);
  }
}

type StepEvent = { step: string; status: repo.StepStatus };

function patchSteps(before: repo.ProfileRow, next: repo.ProfileRow, steps: Record<string, repo.StepStatus>, at: Date, changed: string[]): StepEvent[] {
  const events: StepEvent[] = [];
  for (const [step, status] of Object.entries(steps)) {
    if (before.onboarding_steps[step]?.status === status) continue;
    next.onboarding_steps[step] = { status, at: at.toISOString() };
    events.push({ step, status });
    changed.push(`onboarding.steps.${step}`);
  }
  return events;
}

/**
 * Saves the profile and emits `onboarding.started` (the first step), `onboarding.step_completed` or
 * `onboarding.step_skipped` per changed step, then `customer.updated`.
 */
async function saveAndAnnounce(
  q: Queryable,
  catalog: Catalog,
  customer: Customer,
  next: repo.ProfileRow,
  e: { changed: string[]; steps: StepEvent[]; at: Date; started: boolean },
): Promise<void> {
  const { project_id: projectId, id: customerId } = customer;
  const saved = await repo.saveProfile(q, { ...next, updated_at: e.at });
  if (e.started) {
    await emit(q, { projectId, type: 'onboarding.started', customerId, data: { customer_id: customerId, started_at: e.at }, at: e.at });
  }
  for (const s of e.steps) {
    await emit(q, {
      projectId,
      type: s.status === 'skipped' ? 'onboarding.step_skipped' : 'onboarding.step_completed',
      customerId,
      data: { customer_id: customerId, step: s.step, status: s.status, at: e.at },
      at: e.at,
    });
  }
  await emit(q, {
    projectId,
    type: 'customer.updated',
    customerId,
    data: { id: customerId, email: customer.email, name: customer.name, metadata: customer.metadata, changed: e.changed, ...profileView(catalog, saved) },
    at: e.at,
  });
}

/** What the audit log keeps of a profile change: the changed fields, each one's value before and after. */
function changeDetails(
  changed: string[],
  v: { found: Customer; customer: Customer; before: repo.ProfileRow; next: repo.ProfileRow },
): { changed: string[]; before: Record<string, unknown>; after: Record<string, unknown> } {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const f of changed) {
    if (f === 'email' || f === 'name' || f === 'metadata') {
      before[f] = v.found[f] ?? null;
      after[f] = v.customer[f] ?? null;
    } else if (f.startsWith('settings.')) {
      const key = f.slice('settings.'.length);
      before[f] = v.before.settings[key] ?? null;
      after[f] = v.next.settings[key] ?? null;
    } else if (f.startsWith('onboarding.steps.')) {
      const step = f.slice('onboarding.steps.'.length);
      before[f] = v.before.onboarding_steps[step]?.status ?? null;
      after[f] = v.next.onboarding_steps[step]?.status ?? null;
    } else {
      before[f] = (v.before as unknown as Record<string, unknown>)[f] ?? null;
      after[f] = (v.next as unknown as Record<string, unknown>)[f] ?? null;
    }
  }
  return { changed, before, after };
}

/** Maps `full_name`, `organization_name` and `accept_terms` onto the fields they stand for; the canonical field wins. */
function resolveAliases(body: PatchCustomer, now: Date | undefined): PatchCustomer {
  const { full_name, organization_name, accept_terms, ...rest } = body;
  const out: PatchCustomer = { ...rest };
  if (out.name === undefined && full_name !== undefined) out.name = full_name;
  if (out.organization === undefined && organization_name !== undefined) out.organization = organization_name;
  if (out.terms_accepted_at === undefined && accept_terms === false) out.terms_accepted_at = null;
  if (out.terms_accepted_at === undefined && accept_terms === true && now) out.terms_accepted_at = now.toISOString();
  return out;
}

/** PATCH /v1/customers/:id: profile fields, settings and onboarding steps, in one transaction. */
export async function patchCustomer(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, body: PatchCustomer) {
  const projectId = caller.projectId;
  assertCallerMayPatch(caller, body);
  const { version, catalog } = await getCatalog(ctx, projectId, q);
  const termsByAlias = body.accept_terms === true && body.terms_accepted_at === undefined;
  body = resolveAliases(body, body.accept_terms === true ? await projectNow(ctx, projectId) : undefined);
  validatePatch(caller, version, catalog, body);
  const { customer: found } = await ensureCustomer(ctx, q, projectId, customerId);
  const at = await projectNow(ctx, projectId);
  const changed: string[] = [];
  const customer = await patchCore(q, found, body, at, changed);

  const before = await repo.lockProfile(q, projectId, customerId, at);
  const next: repo.ProfileRow = { ...before, settings: { ...before.settings }, onboarding_steps: { ...before.onboarding_steps } };
  if (termsByAlias && before.terms_accepted_at) body = { ...body, terms_accepted_at: undefined };
  patchProfileFields(before, next, body, changed);
  patchSettings(before, next, body.settings ?? {}, changed);
  const steps = patchSteps(before, next, body.onboarding?.steps ?? {}, at, changed);
  if (changed.length > 0) {
    const started = steps.length > 0 && Object.keys(before.onboarding_steps).length === 0;
    await saveAndAnnounce(q, catalog, customer, next, { changed, steps, at, started });
    await audit(q, caller, { action: 'customer.profile_updated', customerId, target: `customer:${customerId}`, details: changeDetails(changed, { found, customer, before, next }) }, at);
  }
  return customerView(ctx, q, customer);
}

/** Completes onboarding once every required step is completed or skipped; repeating it changes nothing. */
export async function completeOnboarding(ctx: AppContext, q: Queryable, caller: Caller, customerId: string) {
  const projectId = caller.projectId;
  const { catalog } = await getCatalog(ctx, projectId, q);
  await ensureCustomer(ctx, q, projectId, customerId);
  const at = await projectNow(ctx, projectId);
  const p = await repo.lockProfile(q, projectId, customerId, at);
  if (p.onboarding_completed_at) return { object: 'onboarding', customer_id: customerId, ...onboardingView(catalog, p) };
  const pending = (catalog.onboarding?.steps ?? []).filter((s) => !s.optional && !p.onboarding_steps[s.id]).map((s) => s.id);
  if (pending.length > 0) {
    throw new ConflictError(`Onboarding cannot complete: required step(s) ${pending.join(', ')} are neither completed nor skipped`, {
      pending_steps: pending,
    });
  }
  const saved = await repo.saveProfile(q, { ...p, onboarding_completed_at: at, updated_at: at });
  const view = onboardingView(catalog, saved);
  // From the first step recorded to completion.
  const firstStep = Math.min(...Object.values(p.onboarding_steps).map((st) => new Date(st.at).getTime()), at.getTime());
  const durationSeconds = Math.max(0, Math.round((at.getTime() - firstStep) / 1000));
  await emit(q, {
    projectId,
    type: 'onboarding.completed',
    customerId,
    data: { customer_id: customerId, completed_at: at, duration_seconds: durationSeconds, steps: view.steps },
    at,
  });
  await audit(q, caller, { action: 'onboarding.completed', customerId, target: `customer:${customerId}`, details: { before: { completed_at: null }, after: { completed_at: at } } }, at);
  return { object: 'onboarding', customer_id: customerId, ...view };
}

/** The language the customer's profile names (e-mails are written in it), or null. */
export async function customerLocale(q: Queryable, projectId: string, customerId: string): Promise<string | null> {
  return (await repo.findProfile(q, projectId, customerId))?.locale ?? null;
}
