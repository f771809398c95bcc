declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The URL a route's idempotency fingerprint is taken over when the route answers under several
     * spellings, so a retry under the other spelling replays instead of conflicting.
     */
    canonicalUrl?: string;
  }
}

export interface RouteUrl {
  url: string;
  /** Route config: the canonical URL shared by the primary path and its aliases. */
  config: { canonicalUrl: string };
  /** True for an alias: OpenAPI lists it as deprecated in favour of the primary path. */
  deprecated: boolean;
}

/**
 * The URLs one handler answers under: the primary (kebab-case) path first, then the older spellings
 * kept as documented aliases (docs/architecture.md, "Path aliases"). Register the same options and
 * handler for each, so every spelling answers identically. `canonical` names the spelling stored
 * idempotency fingerprints were made with (the oldest one), default the primary.
 */
export function routeUrls(primary: string, aliases: string[], canonical = primary): RouteUrl[] {
  return [primary, ...aliases].map((url) => ({ url, config: { canonicalUrl: canonical }, deprecated: url !== primary }));
}
