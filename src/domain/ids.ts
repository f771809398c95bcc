import { createHash, randomBytes } from 'node:crypto';

/** Every id Tollgate makes carries a prefix from this map. */
export const ID_PREFIX = {
  key: 'key',
  ledger: 'led',
  hold: 'hold',
  grant: 'cgr',
  transfer: 'ctr',
  topUp: 'ctu',
  checkout: 'cs',
  payment: 'pay',
  paymentMethod: 'pm',
  event: 'evt',
  outbox: 'msg',
  audit: 'aud',
  subscription: 'sub',
  invoice: 'inv',
  order: 'ord',
  orderItem: 'oi',
  cartItem: 'ci',
  paymentLink: 'plink',
  endpoint: 'ep',
  delivery: 'dlv',
  secret: 'sec',
  customerApiKey: 'ckey',
  session: 'cuss',
  refund: 're',
  operator: 'op',
  request: 'req',
  issuedInvoice: 'in',
  creditNote: 'cn',
  email: 'eml',
  dispute: 'dsp',
  streamLease: 'sl',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function randomToken(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[(bytes[i] ?? 0) % 62];
  return out;
}

export function newId(kind: IdKind): string {
  return `${ID_PREFIX[kind]}_${randomToken(20)}`;
}

/**
 * An id derived from a seed (e.g. a project and the client's Idempotency-Key): a retry after a
 * crash names the same record, so the provider call it makes carries the same idempotency key.
 */
export function derivedId(kind: IdKind, seed: string): string {
  const bytes = createHash('sha256').update(`${kind}:${seed}`).digest();
  let out = '';
  for (let i = 0; i < 20; i++) out += ALPHABET[(bytes[i] ?? 0) % 62];
  return `${ID_PREFIX[kind]}_${out}`;
}
