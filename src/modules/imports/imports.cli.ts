import { createHash, randomUUID } from 'node:crypto';
import cliProgress from 'cli-progress';
import type { z } from 'zod';
import type { ImportShape } from './imports.repository.ts';
import { type ImportReport, ROW_SCHEMAS } from './imports.service.ts';
import { API_SHAPE, type FileShape, FileError, parseMap, readSource } from './imports.parse.ts';

/** Applies one batch: through a running server's API, or in this process on the database. */
export type ApplyBatch = (shape: ImportShape, body: { rows: unknown[]; dry_run: boolean; first_row: number }) => Promise<ImportReport>;

export interface FileImportOptions {
  shape: FileShape;
  file: string;
  dryRun: boolean;
  map?: string;
  customer?: string;
  table?: string;
  json: boolean;
  /** Said in the summary: which way the rows went. */
  via: string;
  project: string;
}

export const BATCH_SIZE = 200;

interface Problem {
  row: number;
  source_id: string | null;
  reason: string;
}

const issueText = (e: z.ZodError) =>
  e.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || 'row'}: ${i.message}`)
    .join('; ');

/**
 * `tollgate import <shape> <file>`: reads the file, checks every row as the API will, sends the good
 * ones in batches (each idempotent) and sums the batches' reports into one that reconciles.
 */
export async function importFile(o: FileImportOptions, apply: ApplyBatch): Promise<{ code: number; text: string; data: Record<string, unknown> }> {
  const shape = API_SHAPE[o.shape];
  const source = await readSource(o.shape, o.file, { map: parseMap(o.map), customer: o.customer, table: o.table });
  const problems: Problem[] = [];
  const good: { row: number; data: unknown }[] = [];
  for (const r of source) {
    const parsed = ROW_SCHEMAS[shape].safeParse(r.data);
    if (parsed.success) good.push({ row: r.row, data: r.data });
    else problems.push({ row: r.row, source_id: typeof r.data.source_id === 'string' ? r.data.source_id : null, reason: `invalid: ${issueText(parsed.error)}` });
  }
  const counts = { seen: source.length, new: 0, unchanged: 0, skipped: problems.length, invalid: problems.length };
  const totals: Record<string, number> = {};
  let reconciliation: ImportReport['reconciliation'] = null;
  const bar =
    !o.json && process.stdout.isTTY && good.length > 0
      ? new cliProgress.SingleBar({ format: `  importing [{bar}] {value}/{total} rows`, hideCursor: true }, cliProgress.Presets.shades_classic)
      : null;
  bar?.start(good.length, 0);
  let done = 0;
  try {
    for (let i = 0; i < good.length; i += BATCH_SIZE) {
      const batch = good.slice(i, i + BATCH_SIZE);
      const report = await apply(shape, { rows: batch.map((b) => b.data), dry_run: o.dryRun, first_row: 1 });
      for (const [j, r] of report.rows.entries()) {
        if (r.outcome === 'skipped') problems.push({ row: batch[j]?.row ?? r.row, source_id: r.source_id, reason: r.reason ?? 'skipped' });
      }
      counts.new += report.counts.new;
      counts.unchanged += report.counts.unchanged;
      counts.skipped += report.counts.skipped;
      for (const [k, v] of Object.entries(report.totals)) totals[k] = (totals[k] ?? 0) + v;
      reconciliation = report.reconciliation ?? reconciliation;
      done += batch.length;
      bar?.update(done);
    }
  } finally {
    bar?.stop();
  }
  problems.sort((a, b) => a.row - b.row);
  const lines = [
    `${o.dryRun ? 'Dry run (nothing written): ' : ''}import ${o.shape} from ${o.file} into ${o.project} ${o.via}.`,
    `  rows seen ${counts.seen}: new ${counts.new}, unchanged ${counts.unchanged}, skipped ${counts.skipped}${counts.invalid ? ` (${counts.invalid} invalid)` : ''}`,
  ];
  const money = Object.entries(totals).filter(([k]) => k.startsWith('amount_'));
  if (shape === 'credits') {
    lines.push(`  this run: balances ${totals.balances ?? 0} = ledger entries ${totals.ledger_entries ?? 0} (${totals.transactions_replayed ?? 0} transaction(s) replayed)`);
  }
  for (const [k, v] of money) lines.push(`  this run: ${k.slice(7).toUpperCase()} ${v} paid, ${totals[`refunded_${k.slice(7)}`] ?? 0} refunded (minor units)`);
  for (const [k, v] of Object.entries(totals).filter(([k]) => k.startsWith('customers_') || k.startsWith('subscriptions_'))) lines.push(`  this run: ${k.replace('_', ' ')} ${v}`);
  if (reconciliation) {
    const r = reconciliation as NonNullable<ImportReport['reconciliation']>;
    lines.push(
      `  project ${o.project}: imported balances ${r.imported_balances} ${r.balanced ? '=' : '≠'} opening ledger entries ${r.opening_entries}${r.balanced ? ' — reconciles' : ' — DOES NOT RECONCILE'}`,
    );
  }
  for (const p of problems) lines.push(`  row ${p.row}${p.source_id ? ` (${p.source_id})` : ''}: ${p.reason}`);
  if (!o.dryRun) lines.push('  Safe to run again: rows already imported are left as they are.');
  return {
    code: counts.invalid > 0 ? 2 : 0,
    text: `${lines.join('\n')}\n`,
    data: { shape: o.shape, file: o.file, project: o.project, via: o.via, dry_run: o.dryRun, counts, totals, reconciliation, problems },
  };
}

/**
 * Sends batches to a running server (`--url`/`--key`). Each real batch carries an Idempotency-Key
 * made from this run and the batch, so a batch retried after a lost reply is applied once; a later
 * run gets its own report (rows already in come back unchanged).
 */
export function httpApply(url: string, key: string): ApplyBatch {
  const runId = randomUUID();
  return async (shape, body) => {
    const text = JSON.stringify(body);
    const headers: Record<string, string> = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    if (!body.dry_run) headers['idempotency-key'] = `import-${runId}-${createHash('sha256').update(`${shape}\n${text}`).digest('hex').slice(0, 32)}`;
    const send = () => fetch(`${url.replace(/\/+$/, '')}/v1/imports/${shape}`, { method: 'POST', headers, body: text });
    let res: Response;
    try {
      res = await send().catch(send);
    } catch (err) {
      const cause = (err as Error).cause as Error | undefined;
      throw new FileError(`cannot reach the Tollgate server at ${url}: ${cause?.message ?? (err as Error).message}`);
    }
    const reply = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (!res.ok) throw new FileError(`the server at ${url} refused the import (${res.status}): ${reply?.error?.message ?? 'no reason given'}`);
    return reply as unknown as ImportReport;
  };
}
