/** Escapes text for HTML element and attribute content. */
export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export interface Theme {
  name?: string;
  primary_color?: string;
  accent_color?: string;
  logo_url?: string;
}

/** The shell of every hosted page: responsive, themable, no external assets. */
export function page(opts: { title: string; theme?: Theme; lang?: string; body: string }): string {
  const primary = opts.theme?.primary_color ?? '#4f46e5';
  return `<!doctype html>
<html lang="${esc(opts.lang ?? 'en')}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(opts.title)}</title>
<style>
  :root { --primary: ${esc(primary)}; --text: #111827; --muted: #6b7280; --border: #e5e7eb; --bg: #f9fafb; --danger: #b91c1c; }
  * { box-sizing: border-box; }
  body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--text); background: var(--bg); }
  header { display: flex; align-items: center; gap: .6rem; padding: 1rem 1.5rem; background: #fff; border-bottom: 1px solid var(--border); }
  header img { height: 28px; }
  header .brand { font-weight: 700; font-size: 1.1rem; color: var(--primary); }
  main { max-width: 960px; margin: 2rem auto; padding: 0 1rem; }
  .card { background: #fff; border: 1px solid var(--border); border-radius: 12px; padding: 1.5rem; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
  .grid { display: grid; gap: 1.5rem; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); }
  h1 { font-size: 1.5rem; margin: 0 0 1rem; } h2 { font-size: 1.1rem; margin: 0 0 .75rem; }
  .muted { color: var(--muted); font-size: .9rem; line-height: 1.6; }
  .amount { font-size: 2rem; font-weight: 700; margin: .25rem 0 1rem; }
  label { display: block; font-size: .85rem; font-weight: 600; margin: .9rem 0 .3rem; }
  input, select { width: 100%; padding: .65rem .75rem; border: 1px solid #d1d5db; border-radius: 8px; font-size: 1rem; }
  input:focus { outline: 2px solid var(--primary); border-color: transparent; }
  .row { display: flex; gap: .75rem; } .row > div { flex: 1; }
  button, .button { display: inline-block; width: 100%; margin-top: 1.25rem; padding: .8rem 1rem; border: 0; border-radius: 8px;
    background: var(--primary); color: #fff; font-size: 1rem; font-weight: 600; cursor: pointer; text-align: center; text-decoration: none; }
  button.secondary, .button.secondary { background: #fff; color: var(--text); border: 1px solid var(--border); }
  .alert { padding: .75rem 1rem; border-radius: 8px; margin-bottom: 1rem; font-weight: 500; }
  .alert.error { background: #fef2f2; color: var(--danger); border: 1px solid #fecaca; }
  .alert.info { background: #eff6ff; color: #1e40af; border: 1px solid #bfdbfe; }
  .alert.success { background: #f0fdf4; color: #166534; border: 1px solid #bbf7d0; }
  table { width: 100%; border-collapse: collapse; font-size: .9rem; } td, th { padding: .5rem; border-bottom: 1px solid var(--border); text-align: left; }
  td.num, th.num { text-align: right; white-space: nowrap; } tr.total th { border-bottom: 0; }
  .headline { font-weight: 600; overflow-wrap: anywhere; }
  .badge { display: inline-block; padding: .15rem .5rem; border-radius: 999px; background: #eef2ff; color: var(--primary); font-size: .75rem; font-weight: 600; }
  a.link { color: var(--primary); }
  footer { text-align: center; color: var(--muted); font-size: .8rem; margin: 2rem 0; }
  code { background: #f3f4f6; padding: .1rem .3rem; border-radius: 4px; }
</style>
</head>
<body>
<header>${opts.theme?.logo_url ? `<img src="${esc(opts.theme.logo_url)}" alt="">` : ''}<span class="brand">${esc(opts.theme?.name ?? 'Tollgate')}</span></header>
<main>${opts.body}</main>
<footer>Payments by Tollgate</footer>
</body>
</html>`;
}
