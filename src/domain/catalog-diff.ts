import type { Catalog } from './catalog.ts';

/** One catalog item (plan, pack, product, feature, coupon) that a push would add, remove or change. */
export interface CatalogItemChange {
  section: CatalogSection;
  id: string;
  change: 'added' | 'removed' | 'changed';
  /** For `changed`: each differing field with its value before and after (undefined = absent). */
  fields?: { field: string; before: unknown; after: unknown }[];
}

export interface CatalogDiff {
  items: CatalogItemChange[];
  /** Top-level settings (currency, signup_credits, free_plan, default_trial, theme …) that differ. */
  settings: { field: string; before: unknown; after: unknown }[];
}

export const CATALOG_SECTIONS = ['features', 'plans', 'credit_packs', 'products', 'coupons'] as const;
export type CatalogSection = (typeof CATALOG_SECTIONS)[number];

const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** Keys sorted, so two objects that differ only in key order compare equal. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v as Record<string, unknown>)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

function fieldChanges(before: Record<string, unknown>, after: Record<string, unknown>) {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.filter((k) => !same(before[k], after[k])).map((field) => ({ field, before: before[field], after: after[field] }));
}

/** What pushing `next` over `current` would change, item by item (both already validated, defaults applied). */
export function diffCatalogs(current: Catalog, next: Catalog): CatalogDiff {
  const items: CatalogItemChange[] = [];
  for (const section of CATALOG_SECTIONS) {
    const before = new Map((current[section] as { id: string }[]).map((i) => [i.id, i as unknown as Record<string, unknown>]));
    const after = new Map((next[section] as { id: string }[]).map((i) => [i.id, i as unknown as Record<string, unknown>]));
    for (const [id, item] of after) {
      const old = before.get(id);
      if (!old) items.push({ section, id, change: 'added' });
      else {
        const fields = fieldChanges(old, item);
        if (fields.length) items.push({ section, id, change: 'changed', fields });
      }
    }
    for (const id of before.keys()) if (!after.has(id)) items.push({ section, id, change: 'removed' });
  }
  const rest = (c: Catalog) => {
    const { features: _f, plans: _p, credit_packs: _c, products: _pr, coupons: _co, ...settings } = c;
    return settings as Record<string, unknown>;
  };
  return { items, settings: fieldChanges(rest(current), rest(next)) };
}

/** A value as a person reads it: a price as "9.00 EUR", anything else as compact JSON. */
export function describeValue(v: unknown): string {
  if (v === undefined) return '(none)';
  if (v && typeof v === 'object' && 'amount' in v && 'currency' in v) {
    const p = v as { amount: number; currency: string; tax_behavior?: string };
    return `${p.amount} ${p.currency.toUpperCase()}${p.tax_behavior ? ` ${p.tax_behavior}` : ''}`;
  }
  return JSON.stringify(v);
}

const SINGULAR: Record<CatalogSection, string> = {
  features: 'feature',
  plans: 'plan',
  credit_packs: 'credit pack',
  products: 'product',
  coupons: 'coupon',
};

/** The diff as lines: `+ plan pro`, `- credit pack small`, `~ plan basic: price 900 EUR → 1200 EUR`. */
export function describeDiff(d: CatalogDiff): string[] {
  const lines: string[] = [];
  for (const i of d.items) {
    const what = `${SINGULAR[i.section]} ${i.id}`;
    if (i.change === 'added') lines.push(`+ ${what}`);
    else if (i.change === 'removed') lines.push(`- ${what}`);
    else {
      lines.push(`~ ${what}`);
      for (const f of i.fields ?? []) lines.push(`    ${f.field}: ${describeValue(f.before)} → ${describeValue(f.after)}`);
    }
  }
  for (const s of d.settings) lines.push(`~ ${s.field}: ${describeValue(s.before)} → ${describeValue(s.after)}`);
  return lines;
}
