import { z } from 'zod';

/**
 * The e-mails Tollgate sends to customers, each made from one outbox event (see docs/emails.md),
 * with the {{placeholders}} an override of its subject or text may use.
 */
export const EMAIL_TEMPLATES = {
  welcome: ['customer_name', 'customer_email', 'project_name'],
  receipt: ['customer_name', 'customer_email', 'project_name', 'amount', 'invoice_number', 'payment_id', 'date'],
  trial_will_end: ['customer_name', 'customer_email', 'project_name', 'plan_name', 'trial_end', 'days_remaining'],
  trial_ended: ['customer_name', 'customer_email', 'project_name', 'plan_name', 'trial_end', 'next_step'],
  payment_failed: ['customer_name', 'customer_email', 'project_name', 'amount', 'reason', 'portal_url'],
  subscription_canceled: ['customer_name', 'customer_email', 'project_name', 'plan_name', 'ended_at'],
  subscription_will_end: ['customer_name', 'customer_email', 'project_name', 'plan_name', 'period_end'],
  credits_low: ['customer_name', 'customer_email', 'project_name', 'balance', 'threshold'],
  order_confirmation: ['customer_name', 'customer_email', 'project_name', 'order_id', 'total', 'items'],
  api_key_ready: ['customer_name', 'customer_email', 'project_name', 'key_name', 'key_preview', 'portal_url'],
} as const satisfies Record<string, readonly string[]>;

export type EmailTemplate = keyof typeof EMAIL_TEMPLATES;
export const EMAIL_TEMPLATE_NAMES = Object.keys(EMAIL_TEMPLATES) as EmailTemplate[];

export type EmailStatus = 'pending' | 'sent' | 'captured' | 'failed' | 'skipped';
export const EMAIL_STATUSES: readonly EmailStatus[] = ['pending', 'sent', 'captured', 'failed', 'skipped'];

/** `billing@example.com` or `"Name" <billing@example.com>` (also `Name <billing@example.com>`). */
const ADDRESS = /^[^\s@<>"]+@[^\s@<>"]+\.?[^\s@<>"]*$/;
export function parseSender(v: string): { name: string | null; address: string } | null {
  const s = v.trim();
  if (ADDRESS.test(s)) return { name: null, address: s };
  const m = /^(?:"([^"\r\n]*)"|([^"<>\r\n]*?))\s*<([^<>\s]+)>$/.exec(s);
  if (!m || !ADDRESS.test(m[3] ?? '')) return null;
  const name = (m[1] ?? m[2] ?? '').trim();
  return { name: name || null, address: m[3] as string };
}

/** The {{names}} a text uses. */
export function placeholdersOf(text: string): string[] {
  return [...text.matchAll(/\{\{\s*([a-z_]+)\s*\}\}/g)].map((m) => m[1] as string);
}

/** Replaces every {{name}} with its value (unknown names become empty). */
export function fillPlaceholders(text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (_m, k: string) => vars[k] ?? '');
}

const TemplateSettings = z
  .object({
    enabled: z.boolean().optional(),
    subject: z.string().min(1).max(300).optional(),
    text: z.string().min(1).max(20_000).optional(),
  })
  .strict();

/**
 * `settings.email` of a project, as `PATCH /v1/project` takes it under `email`: the sender, a switch
 * for all e-mails, and per template an on/off switch and optional subject and text overrides. A
 * template set to null goes back to the default.
 */
export const EmailSettingsPatch = z
  .object({
    enabled: z.boolean().optional(),
    from: z
      .string()
      .max(300)
      .refine((v) => parseSender(v) !== null, 'must be an address such as "billing@example.com" or "\\"Name\\" <billing@example.com>"')
      .nullable()
      .optional(),
    portal_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000).nullable().optional(),
    templates: z
      .partialRecord(z.enum(EMAIL_TEMPLATE_NAMES as [EmailTemplate, ...EmailTemplate[]]), TemplateSettings.nullable())
      .optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    for (const [name, t] of Object.entries(v.templates ?? {})) {
      if (!t) continue;
      const allowed: readonly string[] = EMAIL_TEMPLATES[name as EmailTemplate];
      for (const field of ['subject', 'text'] as const) {
        const unknown = placeholdersOf(t[field] ?? '').filter((p) => !allowed.includes(p));
        if (unknown.length > 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['templates', name, field],
            message: `unknown placeholder {{${unknown[0]}}}; ${name} knows ${allowed.map((a) => `{{${a}}}`).join(', ')}`,
          });
        }
      }
    }
  });

export type EmailSettingsPatch = z.infer<typeof EmailSettingsPatch>;

export interface EmailSettings {
  enabled?: boolean;
  from?: string;
  portal_url?: string;
  templates?: Partial<Record<EmailTemplate, z.infer<typeof TemplateSettings>>>;
}

/** The stored settings after a patch: given fields replace, null removes, templates merge by name. */
export function mergeEmailSettings(current: EmailSettings | undefined, patch: EmailSettingsPatch): EmailSettings {
  const out: EmailSettings = { ...(current ?? {}) };
  if (patch.enabled !== undefined) out.enabled = patch.enabled;
  if (patch.from === null) delete out.from;
  else if (patch.from !== undefined) out.from = patch.from;
  if (patch.portal_url === null) delete out.portal_url;
  else if (patch.portal_url !== undefined) out.portal_url = patch.portal_url;
  if (patch.templates) {
    const templates = { ...(out.templates ?? {}) };
    for (const [name, t] of Object.entries(patch.templates) as [EmailTemplate, z.infer<typeof TemplateSettings> | null][]) {
      if (t === null) delete templates[name];
      else templates[name] = t;
    }
    out.templates = templates;
  }
  return out;
}

/** After a failed send, retries 1 min, 5 min, 30 min, 2 h, 6 h and 24 h later; then the message fails. */
export const EMAIL_RETRY_DELAYS_MS: readonly number[] = [60_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 6 * 3_600_000, 24 * 3_600_000];

export function nextEmailRetryDelay(step: number): number | null {
  return EMAIL_RETRY_DELAYS_MS[step] ?? null;
}
