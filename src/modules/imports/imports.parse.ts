import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse as parseCsv } from 'csv-parse/sync';
import initSqlJs from 'sql.js';
import type { ImportShape } from './imports.repository.ts';

/**
 * Reading the files products kept into the rows POST /v1/imports/<shape> takes. Every row keeps
 * its number in the file (CSV: its line; JSON: its position; SQLite: its position in the table) so
 * a bad one is reported where the operator can find it.
 */

export const FILE_SHAPES = ['credits-json', 'payments', 'sqlite', 'customers-csv'] as const;
export type FileShape = (typeof FILE_SHAPES)[number];
export const API_SHAPE: Record<FileShape, ImportShape> = { 'credits-json': 'credits', payments: 'payments', sqlite: 'users', 'customers-csv': 'customers' };

/** A file that cannot be read at all (exit code 2 in the CLI). */
export class FileError extends Error {}

export interface SourceRow {
  row: number;
  data: Record<string, unknown>;
}

/** `--map email=Email,name=Full Name,external_id=user_id,metadata.company=Company`: API field → source column. */
export function parseMap(spec: string | undefined): Record<string, string> {
  if (!spec) return {};
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    const field = part.slice(0, eq).trim();
    const column = part.slice(eq + 1).trim();
    if (eq <= 0 || !field || !column) throw new FileError(`--map: '${part.trim()}' is not field=column (e.g. --map email=Email,name=Full Name)`);
    out[field] = column;
  }
  return out;
}

/** The columns each field is read from when --map does not say (matched without regard to case, spaces or dashes). */
const DEFAULT_COLUMNS: Record<FileShape, Record<string, string[]>> = {
  'credits-json': {
    customer_id: ['customer_id', 'customer', 'user_id', 'userid', 'user', 'id', 'email'],
    email: ['email', 'e_mail', 'mail'],
    name: ['name', 'full_name'],
    balance: ['balance', 'credits', 'credit_balance'],
    transactions: ['transactions', 'history', 'last_transactions'],
  },
  payments: {
    source_id: ['source_id', 'id', 'payment_id', 'transaction_id'],
    customer_id: ['customer_id', 'customer', 'user_id'],
    email: ['email', 'customer_email', 'e_mail'],
    amount: ['amount', 'amount_cents', 'amount_minor', 'total'],
    currency: ['currency'],
    created_at: ['created_at', 'date', 'created', 'paid_at', 'timestamp'],
    status: ['status'],
    amount_refunded: ['amount_refunded', 'refunded_amount', 'refunded', 'refund_amount'],
    provider: ['provider', 'gateway'],
    provider_ref: ['provider_ref', 'provider_id', 'payment_intent', 'stripe_payment_intent_id', 'charge', 'charge_id', 'paypal_capture_id'],
    description: ['description', 'item', 'product'],
  },
  sqlite: {
    source_id: ['id', 'user_id'],
    customer_id: ['customer_id'],
    email: ['email', 'e_mail', 'mail'],
    name: ['name', 'full_name', 'username'],
    stripe_customer_id: ['stripe_customer_id', 'stripe_customer'],
    plan: ['plan', 'tier', 'plan_id'],
    trial_end: ['trial_end', 'trial_ends_at', 'trial_end_date'],
    current_period_end: ['current_period_end', 'period_end'],
    subscription_status: ['subscription_status', 'status'],
  },
  'customers-csv': {
    source_id: [],
    external_id: ['external_id', 'user_id', 'id', 'customer_id'],
    email: ['email', 'e_mail', 'mail'],
    name: ['name', 'full_name'],
  },
};

const norm = (s: string) => s.trim().toLowerCase().replace(/[\s-]+/g, '_');

function pick(record: Record<string, unknown>, column: string): unknown {
  if (column in record) return record[column];
  const want = norm(column);
  const key = Object.keys(record).find((k) => norm(k) === want);
  return key === undefined ? undefined : record[key];
}

/** An integer where the source kept a number or a numeric string; anything else as is, for the row check to report. */
function integer(v: unknown): unknown {
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  return v;
}

/** ISO 8601 from what the products kept: ISO strings, SQLite's `YYYY-MM-DD HH:MM:SS`, a date, epoch seconds or milliseconds. */
export function timestamp(v: unknown): unknown {
  if (v === null || v === undefined || v === '') return v === '' ? null : v;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{9,13}$/.test(v.trim()) ? Number(v.trim()) : null;
  if (n !== null) return new Date(n > 1e11 ? n : n * 1000).toISOString();
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return `${s}T00:00:00.000Z`;
  const sqlite = s.match(/^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/);
  if (sqlite) return `${sqlite[1]}T${sqlite[2]}Z`;
  const t = Date.parse(s);
  return Number.isNaN(t) ? v : new Date(t).toISOString();
}

const DEBITS = new Set(['debit', 'deduct', 'deduction', 'usage', 'spend', 'spent', 'consume', 'consumption', 'charge', 'use']);

function transaction(t: unknown): unknown {
  if (!t || typeof t !== 'object') return t;
  const r = t as Record<string, unknown>;
  let amount = integer(pick(r, 'amount') ?? pick(r, 'credits') ?? pick(r, 'delta') ?? pick(r, 'change'));
  const type = pick(r, 'type') ?? pick(r, 'kind');
  if (typeof amount === 'number' && amount > 0 && typeof type === 'string' && DEBITS.has(norm(type))) amount = -amount;
  const id = pick(r, 'id') ?? pick(r, 'transaction_id');
  const reason = pick(r, 'reason') ?? pick(r, 'description') ?? pick(r, 'label') ?? (typeof type === 'string' ? type : undefined);
  const when = timestamp(pick(r, 'created_at') ?? pick(r, 'date') ?? pick(r, 'timestamp') ?? pick(r, 'time'));
  return {
    ...(id !== undefined && id !== null ? { id: String(id) } : {}),
    amount,
    ...(reason !== undefined && reason !== null ? { reason: String(reason) } : {}),
    ...(when ? { created_at: when } : {}),
  };
}

/** A source record as an API row: each field from its mapped or default column, with its type fixed up. */
export function toRow(shape: FileShape, record: Record<string, unknown>, map: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const metadata: Record<string, string> = {};
  const fields = { ...Object.fromEntries(Object.keys(DEFAULT_COLUMNS[shape]).map((f) => [f, null])), ...map };
  for (const field of Object.keys(fields)) {
    const columns = map[field] ? [map[field] as string] : (DEFAULT_COLUMNS[shape][field] ?? []);
    let v: unknown;
    for (const c of columns) {
      v = pick(record, c);
      if (v !== undefined) break;
    }
    if (v === undefined || v === null || v === '') continue;
    if (field.startsWith('metadata.')) {
      metadata[field.slice(9)] = String(v);
      continue;
    }
    out[field] = v;
  }
  if (Object.keys(metadata).length) out.metadata = metadata;
  for (const f of ['balance', 'amount', 'amount_refunded']) if (f in out) out[f] = integer(out[f]);
  for (const f of ['created_at', 'trial_end', 'current_period_end']) if (f in out) out[f] = timestamp(out[f]);
  for (const f of ['source_id', 'customer_id', 'external_id']) if (typeof out[f] === 'number') out[f] = String(out[f]);
  if (shape === 'sqlite' && typeof out.source_id === 'string') out.source_id = `users:${out.source_id}`;
  if (shape === 'credits-json' && Array.isArray(out.transactions)) out.transactions = out.transactions.map(transaction);
  if (shape === 'payments' && typeof out.currency === 'string') out.currency = out.currency.toLowerCase();
  return out;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

function readJson(file: string): unknown {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FileError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function readCsv(file: string): SourceRow[] {
  const text = readText(file);
  try {
    const records = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true, bom: true, info: true }) as { record: Record<string, string>; info: { lines: number } }[];
    return records.map((r) => ({ row: r.info.lines, data: r.record }));
  } catch (err) {
    throw new FileError(`${file} is not a readable CSV file: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * credits.json in the forms products kept: a list of customers (`[...]` or `{"customers": [...]}`),
 * a map from user id to `{balance, transactions}`, or AurisVoice's one global `{balance,
 * transactions}` — which belongs to the one customer named by `--customer`.
 */
function creditsRecords(file: string, doc: unknown, customer: string | undefined): SourceRow[] {
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (Array.isArray(doc)) return doc.map((d, i) => ({ row: i + 1, data: isObj(d) ? d : { value: d } }));
  if (!isObj(doc)) throw new FileError(`${file}: expected a JSON object or array of customers`);
  if (Array.isArray(doc.customers)) return creditsRecords(file, doc.customers, customer);
  if ('balance' in doc && !isObj(doc.balance)) {
    if (!customer) {
      throw new FileError(`${file} holds one global balance (no customers): say whose it is with --customer <id>`);
    }
    return [{ row: 1, data: { ...doc, customer_id: customer } }];
  }
  return Object.entries(doc).map(([id, v], i) => ({ row: i + 1, data: isObj(v) ? { customer_id: id, ...v } : { customer_id: id, balance: v } }));
}

async function sqliteRecords(file: string, table: string): Promise<SourceRow[]> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new FileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const require = createRequire(import.meta.url);
  const SQL = await initSqlJs({ locateFile: (f: string) => require.resolve(`sql.js/dist/${f}`) });
  let db: InstanceType<typeof SQL.Database> | undefined;
  try {
    db = new SQL.Database(bytes);
    const tables = db.exec("SELECT name FROM sqlite_master WHERE type = 'table'")[0]?.values.map((v) => String(v[0])) ?? [];
    if (!tables.includes(table)) throw new FileError(`${file} has no table '${table}' (tables: ${tables.join(', ') || 'none'}); name it with --table`);
    const stmt = db.prepare(`SELECT * FROM "${table.replace(/"/g, '""')}" ORDER BY rowid`);
    const rows: SourceRow[] = [];
    while (stmt.step()) rows.push({ row: rows.length + 1, data: stmt.getAsObject() as Record<string, unknown> });
    stmt.free();
    return rows;
  } catch (err) {
    if (err instanceof FileError) throw err;
    throw new FileError(`${file} is not a readable SQLite database: ${(err as Error).message}`);
  } finally {
    db?.close();
  }
}

/** The file's records, each with its row number, as API rows of the shape. */
export async function readSource(
  shape: FileShape,
  file: string,
  opts: { map?: Record<string, string>; customer?: string; table?: string } = {},
): Promise<SourceRow[]> {
  const map = opts.map ?? {};
  let records: SourceRow[];
  switch (shape) {
    case 'credits-json':
      records = creditsRecords(file, readJson(file), opts.customer);
      break;
    case 'payments': {
      if (/\.csv$/i.test(file)) {
        records = readCsv(file);
        break;
      }
      const doc = readJson(file);
      const list = Array.isArray(doc) ? doc : (doc as { payments?: unknown }).payments;
      if (!Array.isArray(list)) throw new FileError(`${file}: expected a JSON array of payments (or {"payments": [...]}), or a .csv file`);
      records = list.map((d, i) => ({ row: i + 1, data: (d && typeof d === 'object' ? d : { value: d }) as Record<string, unknown> }));
      break;
    }
    case 'sqlite':
      records = await sqliteRecords(file, opts.table ?? 'users');
      break;
    case 'customers-csv':
      records = readCsv(file);
      break;
  }
  return records.map((r) => ({ row: r.row, data: toRow(shape, r.data, map) }));
}
