// The layer rules of docs/architecture.md, checked over the import statements of every file under src/.
// Each assertion prints the offending `file → import` pairs, so a failure says exactly what to move.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { capabilities } from '../src/app/capabilities.ts';
import { buildRegistry } from '../src/app/registry.ts';
import type { CheckoutItemBuilder } from '../src/modules/payments/checkout.service.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

interface Import {
  /** The file holding the import, relative to the repository root with forward slashes (src/…). */
  file: string;
  /** The specifier as written. */
  spec: string;
  /** For a relative specifier, the target relative to the repository root (src/…); null for a package. */
  target: string | null;
  /** `import './x.ts';` — imported only for its side effects. */
  sideEffectOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(entry.name)) out.push(full);
  }
  return out;
}

const posix = (p: string) => p.split(sep).join('/');

/** Comments are blanked (string contents are kept) so a commented-out import does not count. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/[^\n]*/g, '$1');
}

const FROM = /(?:^|[\n;])\s*(?:import|export)\s+(?:type\s+)?[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]/g;
const BARE = /(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]/g;
const DYNAMIC = /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

function parseImports(absFile: string, text: string): Import[] {
  const file = posix(relative(ROOT, absFile));
  const code = stripComments(text);
  const found: Import[] = [];
  const add = (spec: string, sideEffectOnly: boolean) => {
    const target = spec.startsWith('.') ? posix(relative(ROOT, resolve(dirname(absFile), spec))) : null;
    found.push({ file, spec, target, sideEffectOnly });
  };
  for (const m of code.matchAll(FROM)) add(m[1]!, false);
  for (const m of code.matchAll(BARE)) add(m[1]!, true);
  for (const m of code.matchAll(DYNAMIC)) add(m[1]!, false);
  return found;
}

const imports = sourceFiles(SRC).flatMap((f) => parseImports(f, readFileSync(f, 'utf8')));
const projectImports = imports.filter((i) => i.target !== null);

const under = (path: string, folder: string) => path === folder || path.startsWith(`${folder}/`);
const show = (list: Import[]) => list.map((i) => `${i.file} → ${i.spec}`);

/**
 * The top-level statements of a file that are calls (`register(...)`, `await setUp()`, `void f()`):
 * code that runs because the file was imported. Declarations (`export const x = f()`) are not listed.
 */
function topLevelCalls(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  /** The callee of a statement that is a call (through `await`, `void`, parentheses), else undefined. */
  const callee = (e: ts.Expression): string | undefined => {
    if (ts.isParenthesizedExpression(e) || ts.isAwaitExpression(e) || ts.isVoidExpression(e)) return callee(e.expression);
    if (ts.isCallExpression(e) || ts.isNewExpression(e)) return e.expression.getText(sf);
    if (ts.isTaggedTemplateExpression(e)) return e.tag.getText(sf);
    return undefined;
  };
  return sf.statements
    .filter((st): st is ts.ExpressionStatement => ts.isExpressionStatement(st) && callee(st.expression) !== undefined)
    .map((st) => `${file}:${sf.getLineAndCharacterOfPosition(st.getStart(sf)).line + 1} ${callee(st.expression)}(…)`);
}

describe('architecture: nothing registers itself at module load', () => {
  it('the check sees a top-level call in every form, and not a declaration', () => {
    const sample = [
      "import { onCatalogPush } from './catalog.ts';",
      'onCatalogPush(async () => {});',
      'await register();',
      'void start();',
      'export const hook = makeHook();',
      'function notRun() { registerLater(); }',
    ].join('\n');
    expect(topLevelCalls('src/modules/x/x.ts', sample)).toEqual([
      'src/modules/x/x.ts:2 onCatalogPush(…)',
      'src/modules/x/x.ts:3 register(…)',
      'src/modules/x/x.ts:4 start(…)',
    ]);
  });

  it('no file under src/modules/ or src/providers/ calls a function at its top level (hooks are listed in src/app/capabilities.ts)', () => {
    const files = [...sourceFiles(join(SRC, 'modules')), ...sourceFiles(join(SRC, 'providers'))];
    expect(files.length).toBeGreaterThan(30);
    const found = files.flatMap((f) => topLevelCalls(posix(relative(ROOT, f)), readFileSync(f, 'utf8')));
    expect(found).toEqual([]);
  });
});

describe('architecture: the registry built from src/app/capabilities.ts', () => {
  it('indexes every checkout item, refund effect and hook, in the order of the list', () => {
    const r = buildRegistry(capabilities);
    expect([...r.checkoutItems.keys()].sort()).toEqual(['credit_pack', 'order', 'plan']);
    expect([...r.refundEffects.keys()].sort()).toEqual(['credit_pack', 'order']);
    expect(r.customerView.map((f) => f.name)).toEqual(['profileCustomerView', 'entitlementsCustomerView', 'subscriptionCustomerView', 'disputesCustomerView']);
    expect(r.onCustomerCreated.map((f) => f.name)).toEqual(['startDefaultTrial']);
    expect(r.onCatalogPush.map((f) => f.name)).toEqual(['validateSettingsSchemasOnPush', 'keepPlansInUseOnPush', 'syncStockOnCatalogPush', 'requestStripeSyncOnPush']);
  });

  it('refuses a checkout item or refund effect claimed by two capabilities, and a hook listed twice', () => {
    const item: CheckoutItemBuilder = async () => ({ complete: {} });
    expect(() => buildRegistry([...capabilities, { name: 'other', checkoutItems: { plan: item } }])).toThrow(
      'checkout item "plan" is registered twice (again by other)',
    );
    const effect = buildRegistry(capabilities).refundEffects.get('order')!;
    expect(() => buildRegistry([...capabilities, { name: 'other', refundEffects: { order: effect } }])).toThrow(
      'refund effect "order" is registered twice (again by other)',
    );
    const view = buildRegistry(capabilities).customerView[0]!;
    expect(() => buildRegistry([...capabilities, { name: 'other', customerView: [view] }])).toThrow(
      'customer view hook is registered twice (again by other)',
    );
  });
});

describe('architecture: import rules over src/', () => {
  it('the parser sees the imports of every form', () => {
    const sample = [
      "import { a } from './a.ts';",
      'import type {\n  B,\n  C,\n} from "../b.ts";',
      "export { d } from './d.ts';",
      "export * from 'zod';",
      "import './side.ts';",
      "const m = await import('./lazy.ts');",
      "// import { gone } from './commented.ts';",
    ].join('\n');
    const found = parseImports(join(SRC, 'modules', 'x', 'x.ts'), sample);
    expect(found.map((i) => [i.spec, i.target, i.sideEffectOnly])).toEqual([
      ['./a.ts', 'src/modules/x/a.ts', false],
      ['../b.ts', 'src/modules/b.ts', false],
      ['./d.ts', 'src/modules/x/d.ts', false],
      ['zod', null, false],
      ['./side.ts', 'src/modules/x/side.ts', true],
      ['./lazy.ts', 'src/modules/x/lazy.ts', false],
    ]);
    // And the real tree is actually read: the composition root imports the app assembly.
    expect(projectImports.some((i) => i.file === 'src/server.ts' && i.target === 'src/http/app.ts')).toBe(true);
    expect(new Set(imports.map((i) => i.file)).size).toBeGreaterThan(50);
  });

  it('src/providers/** import only src/domain, src/lib, the port (src/providers/provider.ts), their own folder and packages', () => {
    const bad = projectImports.filter((i) => {
      if (!under(i.file, 'src/providers')) return false;
      const t = i.target!;
      return !(
        under(t, 'src/domain') ||
        under(t, 'src/lib') ||
        t === 'src/providers/provider.ts' ||
        dirname(t) === dirname(i.file) ||
        under(t, dirname(i.file))
      );
    });
    expect(show(bad)).toEqual([]);
  });

  it('src/domain/** imports only src/domain/** and packages', () => {
    const bad = projectImports.filter((i) => under(i.file, 'src/domain') && !under(i.target!, 'src/domain'));
    expect(show(bad)).toEqual([]);
  });

  it('outside src/http/, only route files, pages and the composition root (src/server.ts) import src/http/**', () => {
    const mayImportHttp = (file: string) =>
      under(file, 'src/http') ||
      file === 'src/server.ts' ||
      file.endsWith('.routes.ts') ||
      /^src\/web\/[^/]+\.pages?\.ts$/.test(file);
    const bad = projectImports.filter((i) => under(i.target!, 'src/http') && !mayImportHttp(i.file));
    expect(show(bad)).toEqual([]);
  });

  it('route files under src/modules/ call services, not repositories (apart from the listed debt, which may only shrink)', () => {
    const bad = projectImports.filter((i) => under(i.file, 'src/modules') && i.file.endsWith('.routes.ts') && i.target!.endsWith('.repository.ts'));
    expect(show(bad).sort()).toEqual(
      [
        'src/modules/audit/audit.routes.ts → ./audit.repository.ts',
        'src/modules/test-helpers/test-helpers.routes.ts → ../projects/projects.repository.ts',
      ].sort(),
    );
  });

  it('no file imports project code only for its side effects (registration is explicit, in src/app/capabilities.ts)', () => {
    const bad = projectImports.filter((i) => i.sideEffectOnly);
    expect(show(bad)).toEqual([]);
  });
});
