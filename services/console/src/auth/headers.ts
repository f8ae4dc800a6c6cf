import type { FastifyHelmetOptions } from '@fastify/helmet';

/**
 * Security headers: scripts, styles and everything else only from the console itself (no
 * inline script, no CDN), no framing (CSP frame-ancestors and X-Frame-Options), no referrer to other sites.
 * HSTS and upgrade-insecure-requests only under TLS: over plain HTTP they would break the page.
 */
export function helmetOptions(tls: boolean): FastifyHelmetOptions {
  return {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(tls ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    frameguard: { action: 'deny' },
    // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with its own
    // form posts, and the Origin check would refuse them.
    referrerPolicy: { policy: 'same-origin' },
    strictTransportSecurity: tls ? { maxAge: 31_536_000, includeSubDomains: false } : false,
  };
}
