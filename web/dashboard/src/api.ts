export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field the error is about (`branding.logo_url`), when the API names one. */
    readonly param?: string,
  ) {
    super(message);
  }
}

async function request<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['idempotency-key'] = crypto.randomUUID();
  const res = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data: any;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const e = data?.error;
    if (res.status === 401 && !url.endsWith('/login') && !url.endsWith('/setup')) window.dispatchEvent(new Event('tollgate:signed-out'));
    throw new ApiError(res.status, e?.code ?? 'error', e?.message ?? `${res.status} ${res.statusText}`, typeof e?.param === 'string' ? e.param : undefined);
  }
  return data as T;
}

/** The dashboard's own endpoints (session, projects, overview). */
export const dash = <T = any>(method: string, path: string, body?: unknown) => request<T>(method, `/dashboard/api/${path}`, body);

/** The public API, as the signed-in operator on one project. */
export const v1 = <T = any>(project: string, method: string, path: string, body?: unknown) =>
  request<T>(method, `/dashboard/api/p/${encodeURIComponent(project)}/v1/${path}`, body);

const EXP: Record<string, number> = { jpy: 0, krw: 0, clp: 0, vnd: 0, isk: 0, bhd: 3, kwd: 3, jod: 3, tnd: 3 };

export function money(m: { amount: number; currency: string } | null | undefined): string {
  if (!m) return '—';
  const exp = EXP[m.currency] ?? 2;
  return new Intl.NumberFormat(undefined, {
    style: 'currency',
    currency: m.currency.toUpperCase(),
    minimumFractionDigits: exp,
    maximumFractionDigits: exp,
  }).format(m.amount / 10 ** exp);
}

export function when(v: string | null | undefined): string {
  if (!v) return '—';
  const narrow = window.innerWidth < 600;
  return new Date(v).toLocaleString(undefined, narrow ? { dateStyle: 'short' } : { dateStyle: 'medium', timeStyle: 'short' });
}
