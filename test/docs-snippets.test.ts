import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Every ```ts block of README.md and docs/*.md is type-checked against @tollgate/sdk (its sources), with the
// client every page assumes in scope. Blocks that are not TypeScript (config, output) are ```json / ```text.
const ROOT = resolve(import.meta.dirname, '..');
// `process.env` is all the snippets use of Node: declared here, so the check does not load @types/node.
const NODE = 'declare const process: { env: Record<string, string | undefined> };';
const IMPORT = "import { Tollgate } from '@tollgate/sdk';";
const CLIENT = ['const tollgate = new Tollgate({ apiKey: process.env.TOLLGATE_KEY! });', 'void tollgate;'];

interface Snippet {
  source: string; // README.md or docs/x.md
  line: number; // line of the first code line in that file
  code: string;
}

function snippets(): Snippet[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  const out: Snippet[] = [];
  for (const source of files) {
    const lines = readFileSync(join(ROOT, source), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && !lines[end]!.startsWith('```')) end++;
      out.push({ source, line: start + 1, code: lines.slice(start, end).join('\n') });
      i = end;
    }
  }
  return out;
}

/** A block that builds its own client (README's walk-through) does not get the prelude's one. */
function prelude(code: string): string[] {
  const own = /\bconst tollgate\s*=/.test(code);
  const importsTollgate = /import\s*\{[^}]*\bTollgate\b[^}]*\}\s*from\s*'@tollgate\/sdk'/.test(code);
  return [...(importsTollgate ? [] : [IMPORT]), ...(own ? [] : CLIENT)];
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-doc-snippets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Type-checks the snippets as one program; returns "README.md:83: message" per error. */
function checkSnippets(list: Snippet[]): string[] {
  const where = new Map<string, { snippet: Snippet; offset: number }>();
  list.forEach((s, n) => {
    const head = prelude(s.code);
    const file = join(dir, `snippet-${n}.ts`);
    writeFileSync(file, `${[...head, s.code, 'export {};', NODE].join('\n')}\n`);
    where.set(file, { snippet: s, offset: head.length });
  });
  const program = ts.createProgram([...where.keys()], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: [], // the SDK needs no Node types: `process` is declared by the prelude
    paths: { '@tollgate/sdk': [join(ROOT, 'sdk/src/index.ts')] },
  });
  const errors: string[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const at = d.file && where.get(resolve(d.file.fileName));
    if (!d.file || !at || d.start === undefined) {
      errors.push(`${d.file?.fileName ?? '(program)'}: ${message}`);
      continue;
    }
    const line = d.file.getLineAndCharacterOfPosition(d.start).line - at.offset;
    errors.push(`${at.snippet.source}:${at.snippet.line + line}: ${message}`);
  }
  return errors;
}

// A canary checked in the same program: a call to a method the SDK lacks must be reported, by file and line.
const CANARY: Snippet = { source: 'canary.md', line: 10, code: "await tollgate.credits.balance('u1');\nawait tollgate.credits.refill('u1');" };

describe('TypeScript snippets in README.md and docs/*.md', () => {
  const all = snippets();
  let errors: string[] = [];
  beforeAll(() => {
    errors = checkSnippets([...all, CANARY]);
  }, 60_000);

  it('finds the SDK examples of every page that shows an API call', () => {
    const pages = new Set(all.map((s) => s.source));
    for (const page of [
      'README.md',
      'docs/api-keys.md',
      'docs/api.md',
      'docs/credits.md',
      'docs/customers.md',
      'docs/emails.md',
      'docs/invoices.md',
      'docs/sdk-realtime.md',
      'docs/shop.md',
      'docs/stripe.md',
      'docs/subscriptions.md',
      'docs/vault.md',
      'docs/webhooks-and-metrics.md',
    ])
      expect(pages, page).toContain(page);
  });

  it('every page with a curl example also shows the SDK', () => {
    const pages = new Set(all.map((s) => s.source));
    const withCurl = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
      /^```(sh|bash)\n(?:(?!```)[\s\S])*\bcurl /m.test(readFileSync(join(ROOT, f), 'utf8')),
    );
    expect(withCurl.length).toBeGreaterThan(5);
    expect(withCurl.filter((f) => !pages.has(f))).toEqual([]);
  });

  it('type-check against @tollgate/sdk', () => {
    expect(errors.filter((e) => !e.startsWith('canary.md:'))).toEqual([]);
  });

  it('a snippet calling a method the SDK lacks fails, named by file and line', () => {
    const canary = errors.filter((e) => e.startsWith('canary.md:'));
    expect(canary).toHaveLength(1);
    expect(canary[0]).toMatch(/^canary\.md:11: Property 'refill' does not exist/);
  });
});
