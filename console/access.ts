import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * Who may use the console, decided apart from serving it: the host names it answers to (so a web page elsewhere
 * cannot reach it through DNS rebinding), the origins a POST may come from, and beyond loopback the token every
 * request must carry. server.ts applies these decisions to each request.
 */

/** The console cannot start as asked: a host beyond loopback without allowRemote, a bad host name, a port in use. */
export class ConsoleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConsoleError';
  }
}

/** The cookie that carries the token for the browser; opening `/?token=…` sets it. */
const TOKEN_COOKIE = 'sluice_console_token';
/** Random bytes in a token (256 bits). */
const TOKEN_BYTES = 32;
/** A host name as DNS spells it (labels of letters, digits and inner hyphens), with no port or scheme. */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Whether a host name or address is this machine only: `localhost`, 127.0.0.0/8, `::1`.
 * @example isLoopback('127.0.0.1') // true; isLoopback('0.0.0.0') // false
 */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}

/**
 * Refuses a host beyond loopback unless `allowRemote`.
 * @param allowedBy How the caller allows it, for the message (the CLI's flag, or the option).
 * @throws {ConsoleError} naming the host and what allows it.
 * @example assertListenable('0.0.0.0', false) // throws
 */
export function assertListenable(host: string, allowRemote: boolean, allowedBy = 'allowRemote: true'): void {
  if (isLoopback(host) || allowRemote) return;
  throw new ConsoleError(
    `refusing to listen on ${host}: beyond this machine anyone who can reach the port could read the pipeline and ` +
      `redrive its dead letters. Use ${allowedBy} to listen there, with a token required on every request.`,
  );
}

/**
 * The allowed host names, normalised (lower case, no brackets, no trailing dot).
 * @param optionName How the caller names the setting, for the message (the CLI's flag, or the option).
 * @throws {ConsoleError} naming a value that is not a host name or an address (a URL, a port, a path).
 * @example allowedHostNames(['Console.Example.']) // ['console.example']
 */
export function allowedHostNames(names: readonly string[], optionName = 'allowedHosts'): string[] {
  return names.map((name) => {
    const bare = normalHost(name.trim());
    if (isIP(bare) !== 0 || HOST_NAME.test(bare)) return bare;
    throw new ConsoleError(
      `${optionName} must name a host, e.g. console.example or 192.0.2.10, without a scheme or port (got '${name}')`,
    );
  });
}

/** Who may use the console: the host names it answers to, and beyond loopback the token every request needs. */
export interface Access {
  /** Undefined on loopback, where no token is needed. */
  readonly token: { readonly value: string; readonly digest: Buffer } | undefined;
  /** Names answered to besides loopback's (empty on loopback). */
  readonly hosts: ReadonlySet<string>;
}

/** Beyond loopback: a fresh token, and the names allowed: the listening address (unless a wildcard) and `extra`. */
export function remoteAccess(host: string, extra: readonly string[]): Access {
  const value = randomBytes(TOKEN_BYTES).toString('base64url');
  const listening = normalHost(host);
  const wildcard = listening === '0.0.0.0' || listening === '::';
  return {
    token: { value, digest: digestOf(value) },
    hosts: new Set([...(wildcard ? [] : [listening]), ...extra]),
  };
}

/** What a request beyond loopback gets for the token it carries. */
export type TokenCheck =
  | { readonly kind: 'pass' }
  | { readonly kind: 'refuse'; readonly message: string }
  /** The right token in a page's address: set the cookie, and send the browser to the page without it. */
  | { readonly kind: 'set-cookie'; readonly location: string; readonly cookie: string };

/**
 * Beyond loopback, whether the request carries the token. Opening a page with `?token=` and the right token sets
 * the cookie and redirects to the page without it, so it stays out of the address bar.
 */
export function checkToken(request: IncomingMessage, url: URL, api: boolean, digest: Buffer): TokenCheck {
  const method = request.method ?? 'GET';
  const inAddress = url.searchParams.get('token');
  if (inAddress !== null && !api && (method === 'GET' || method === 'HEAD')) {
    if (!matchesToken(inAddress, digest)) {
      return {
        kind: 'refuse',
        message: "the token in the address is wrong: open the URL 'sluice console' printed at start",
      };
    }
    const page = new URL(url);
    page.searchParams.delete('token');
    return {
      kind: 'set-cookie',
      location: `${page.pathname}${page.search}`,
      cookie: `${TOKEN_COOKIE}=${inAddress}; Path=/; HttpOnly; SameSite=Strict`,
    };
  }
  const presented = bearerToken(request) ?? cookieToken(request);
  if (presented === undefined) {
    return {
      kind: 'refuse',
      message:
        "this console needs its token: open the URL 'sluice console' printed at start (it ends in ?token=…), " +
        'or send Authorization: Bearer TOKEN',
    };
  }
  if (!matchesToken(presented, digest)) {
    return { kind: 'refuse', message: "the token is wrong: use the one 'sluice console' printed at start" };
  }
  return { kind: 'pass' };
}

/** Compares digests of equal length in constant time, so neither the token nor its length leaks by timing. */
function matchesToken(presented: string, digest: Buffer): boolean {
  return timingSafeEqual(digestOf(presented), digest);
}

function digestOf(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  return header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/**
 * The token cookie's value. Written by hand: the console reads one cookie that it set itself, whose value is
 * base64url (nothing to unquote or decode), so splitting the header on ';' is all a cookie parser would do here.
 */
function cookieToken(request: IncomingMessage): string | undefined {
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const [name, ...value] = pair.trim().split('=');
    if (name === TOKEN_COOKIE) return value.join('=');
  }
  return undefined;
}

/** Loopback's names always; beyond loopback also the listening address and the allowed names. */
export function isAllowedHost(name: string, access: Access): boolean {
  const bare = normalHost(name);
  return isLoopback(bare) || access.hosts.has(bare);
}

/**
 * Why a POST is refused as cross-site, or undefined when it may go on. An Origin must name an allowed host (the
 * same list the Host header is checked against, never the Host header itself, which a rebinding page sets) on the
 * port the request came to: a page of another server on an allowed host is another origin.
 */
export function crossSiteRefusal(request: IncomingMessage, access: Access): string | undefined {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null' && !isAllowedOrigin(origin, request.headers.host ?? '', access)) {
    return `cross-site request refused (Origin ${origin})`;
  }
  if (origin === 'null' || request.headers['sec-fetch-site'] === 'cross-site') return 'cross-site request refused';
  return undefined;
}

/** `[::1]:4310` → `::1`; `localhost:4310` → `localhost`. */
export function hostName(hostHeader: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(hostHeader);
  if (bracketed) return bracketed[1] ?? '';
  return hostHeader.replace(/:\d+$/, '');
}

function isAllowedOrigin(origin: string, hostHeader: string, access: Access): boolean {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const originPort = parsed.port === '' ? (parsed.protocol === 'https:' ? '443' : '80') : parsed.port;
  const requestPort = /:(\d+)$/.exec(hostHeader)?.[1] ?? '80';
  return isAllowedHost(parsed.hostname, access) && originPort === requestPort;
}

/** `Console.Example.` → `console.example`; `[::1]` → `::1`. */
function normalHost(name: string): string {
  return name
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase()
    .replace(/\.$/, '');
}
