// The layer rules of docs/architecture.md, checked over the import statements of every file under src/.
// Each assertion prints the offending `file → import` pairs, so a failure says exactly what to move.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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

  it('no file imports project code only for its side effects (registration is explicit, in src/app/capabilities.ts)', () => {
    const bad = projectImports.filter((i) => i.sideEffectOnly);
    expect(show(bad)).toEqual([]);
  });
});
