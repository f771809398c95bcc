import type { Catalog } from '../domain/catalog.ts';
import { InvalidRequestError } from '../domain/errors.ts';
import { currencyExponent, formatMoney } from '../domain/money.ts';
import type { AppContext } from '../app/context.ts';
import { getAutoTopUp, putAutoTopUp } from '../modules/credits/credits.topup.ts';
import { esc } from './html.ts';
import type { Locale, translator } from './i18n.ts';

type T = ReturnType<typeof translator>;

export const AUTO_TOP_UP_CSS = `<style>
  .atu-form { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); align-items: end; margin-top: 1rem; }
  .atu-form label { display: block; font-size: .9rem; margin-bottom: .25rem; }
  .atu-form input[type=number], .atu-form select { width: 100%; box-sizing: border-box; }
  .atu-form .toggle { display: flex; gap: .5rem; align-items: center; justify-content: flex-start; }
  .atu-form .toggle input { width: auto; flex: none; margin: 0; }
  .atu-form .toggle label { display: inline; margin: 0; font-weight: 600; }
  .atu-facts { display: grid; gap: .25rem 1rem; grid-template-columns: max-content 1fr; margin: .5rem 0 0; }
  .atu-facts dt { color: var(--muted); } .atu-facts dd { margin: 0; overflow-wrap: anywhere; }
</style>`;

/** The customer's auto top-up setting and the form that changes it (hosted credits page, billing portal). */
export async function autoTopUpSection(
  ctx: AppContext,
  o: { projectId: string; customerId: string; catalog: Catalog; locale: Locale; t: T },
  action: string,
  msg: { error?: string; saved?: boolean; /** The form as posted, shown again with its error. */ form?: unknown } = {},
): Promise<string> {
  const s = await getAutoTopUp(ctx, ctx.db, o.projectId, o.customerId);
  const packs = o.catalog.credit_packs.filter((p) => p.active);
  if (packs.length === 0) return '';
  const posted = msg.form && typeof msg.form === 'object' ? (msg.form as Record<string, unknown>) : null;
  const field = (k: string) => (posted && typeof posted[k] === 'string' ? (posted[k] as string) : undefined);
  const chosen = packs.find((p) => p.id === (field('pack') ?? s.pack)) ?? packs[0]!;
  const currency = chosen.price.currency;
  const money = (amount: number) => formatMoney({ amount, currency }, o.locale);
  const major = (amount: number) => (amount / 10 ** currencyExponent(currency)).toFixed(currencyExponent(currency));
  const step = currencyExponent(currency) ? (1 / 10 ** currencyExponent(currency)).toFixed(currencyExponent(currency)) : '1';
  const { t } = o;
  const options = packs
    .map((p) => `<option value="${esc(p.id)}"${p.id === chosen.id ? ' selected' : ''}>${esc(p.name)} — ${esc(p.credits)} ${esc(t('credits'))}, ${esc(formatMoney(p.price, o.locale))}</option>`)
    .join('');
  return `<section class="card" aria-label="${esc(t('auto_top_up'))}" data-testid="auto-top-up">
    <h2>${esc(t('auto_top_up'))} <span class="badge" data-testid="atu-state">${esc(t(s.enabled ? 'on' : 'off'))}</span></h2>
    <p class="muted">${esc(t('auto_top_up_help'))}</p>
    ${msg.error ? `<div class="alert error" role="alert" data-testid="atu-error">${esc(msg.error)}</div>` : ''}
    ${msg.saved ? `<div class="alert success" role="status" data-testid="atu-saved">${esc(t('auto_top_up_saved'))}</div>` : ''}
    ${
      s.pack
        ? `<dl class="atu-facts">
      <dt>${esc(t('threshold'))}</dt><dd data-testid="atu-threshold">${esc(s.threshold)} ${esc(t('credits'))}</dd>
      <dt>${esc(t('pack'))}</dt><dd data-testid="atu-pack">${esc(chosen.name)}</dd>
      <dt>${esc(t('monthly_cap'))}</dt><dd data-testid="atu-cap">${esc(money(s.monthly_cap ?? 0))}</dd>
      <dt>${esc(t('spent_this_month'))}</dt><dd data-testid="atu-spent">${esc(money(s.spent_this_month))}</dd>
      ${s.last_error ? `<dt>${esc(t('last_error'))}</dt><dd data-testid="atu-last-error">${esc(t(LAST_ERRORS[s.last_error] ?? 'atu_failed'))} (${esc(s.last_error)})</dd>` : ''}
    </dl>`
        : ''
    }
    <form method="post" action="${esc(action)}" class="atu-form" data-testid="atu-form">
      <div class="toggle"><input type="checkbox" id="atu-enabled" name="enabled" value="on"${(posted ? field('enabled') === 'on' : s.enabled) ? ' checked' : ''}><label for="atu-enabled">${esc(t('auto_top_up_enable'))}</label></div>
      <div><label for="atu-threshold">${esc(t('threshold'))} (${esc(t('credits'))})</label>
        <input type="number" id="atu-threshold" name="threshold" min="0" step="1" required value="${esc(field('threshold') ?? s.threshold ?? 10)}"></div>
      <div><label for="atu-pack">${esc(t('pack'))}</label><select id="atu-pack" name="pack">${options}</select></div>
      <div><label for="atu-cap">${esc(t('monthly_cap'))} (${esc(currency.toUpperCase())})</label>
        <input type="number" id="atu-cap" name="monthly_cap" min="0" step="${step}" required value="${esc(field('monthly_cap') ?? major(s.monthly_cap ?? chosen.price.amount * 3))}"></div>
      <div><button type="submit" id="atu-save">${esc(t('save_settings'))}</button></div>
    </form>
  </section>`;
}

const LAST_ERRORS: Record<string, Parameters<T>[0]> = {
  card_declined: 'atu_card_declined',
  authentication_required: 'atu_authentication_required',
  no_payment_method: 'atu_no_payment_method',
};

/**
 * A posted form applied through `putAutoTopUp`: the checkbox, the threshold in credits and the cap
 * in the pack's currency (major units, as typed). Bad input throws InvalidRequestError (400).
 */
export async function applyAutoTopUpForm(ctx: AppContext, o: { projectId: string; customerId: string; catalog: Catalog; locale: Locale; t: T }, body: unknown) {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const text = (k: string) => (typeof b[k] === 'string' ? (b[k] as string).trim() : '');
  const pack = o.catalog.credit_packs.find((p) => p.active && p.id === text('pack'));
  if (!pack) throw new InvalidRequestError(o.t('atu_bad_pack'), 'pack');
  const threshold = text('threshold');
  if (!/^\d{1,9}$/.test(threshold)) throw new InvalidRequestError(o.t('atu_bad_threshold'), 'threshold');
  const exp = currencyExponent(pack.price.currency);
  const cap = text('monthly_cap').replace(',', '.');
  const m = cap.match(/^(\d{1,10})(?:\.(\d*))?$/);
  if (!m || (m[2] ?? '').length > exp) throw new InvalidRequestError(o.t('atu_bad_cap'), 'monthly_cap');
  const monthlyCap = Number(m[1]) * 10 ** exp + Number((m[2] ?? '').padEnd(exp, '0') || 0);
  const enabled = b.enabled === 'on' || b.enabled === 'true';
  if (enabled && monthlyCap < pack.price.amount) {
    throw new InvalidRequestError(o.t('atu_cap_too_low', { amount: formatMoney(pack.price, o.locale) }), 'monthly_cap');
  }
  return putAutoTopUp(ctx, ctx.db, o.projectId, o.customerId, { enabled, threshold: Number(threshold), pack: pack.id, monthly_cap: monthlyCap });
}
