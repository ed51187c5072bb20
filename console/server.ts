import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError } from '#ops/errors.ts';
import { errorText, type Target, TargetError } from '#ops/target.ts';
import {
  type Access,
  allowedHostNames,
  assertListenable,
  ConsoleError,
  checkToken,
  crossSiteRefusal,
  hostName,
  isAllowedHost,
  isLoopback,
  remoteAccess,
  type TokenCheck,
} from './access.ts';
import { ApiError, type ApiRoute, matchRoute } from './api.ts';

/**
 * The console's web server (node:http): the JSON API under /api/, the single page for every page route, and its
 * assets under /assets/. Bound to loopback unless told otherwise; it answers only to loopback host names then,
 * so a web page elsewhere cannot reach it through DNS rebinding, and refuses cross-site and non-JSON POSTs.
 * Beyond loopback it answers only to the host names it is allowed (loopback's, the address it listens on and
 * `allowedHosts`), and every request must carry its token: a random secret made at start, sent as
 * `Authorization: Bearer` or as the cookie that opening `/?token=…` once sets. Those rules are access.ts's; this
 * file applies them, routes, and sends.
 */

export interface ConsoleOptions {
  /** The stack to show; the caller resolves it and closes it after the console. */
  readonly target: Target;
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Allow a host beyond loopback; every request must then carry the console's token. @default false */
  readonly allowRemote?: boolean;
  /**
   * Beyond loopback: the host names (or addresses) the console answers to besides loopback's and the address it
   * listens on, e.g. the name it is reached by. A request for any other name is refused (DNS rebinding).
   * @default []
   */
  readonly allowedHosts?: readonly string[];
  /** @default Date.now */
  readonly now?: () => number;
  /** Folder of index.html, styles.css and the page's modules in js/. @default console/web beside this file */
  readonly webRoot?: string;
}

export interface ConsoleServer {
  /** e.g. `http://127.0.0.1:4310/` */
  readonly url: string;
  /** Beyond loopback: the token every request must carry. Undefined on loopback, which needs none. */
  readonly token: string | undefined;
  /** The URL to open in a browser: `url`, with `?token=` beyond loopback (opening it once sets the cookie). */
  readonly openUrl: string;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

export const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_WEB_ROOT = fileURLToPath(new URL('./web/', import.meta.url));
/** Largest request body read (the API's bodies are a few hundred bytes). */
const MAX_BODY_BYTES = 64 * 1024;

/** The client-side routes: each is answered with the single page, which draws itself from the path. */
const PAGE_ROUTES = [/^\/$/, /^\/board$/, /^\/items$/, /^\/items\/[^/]+$/, /^\/dead-letters$/, /^\/economics$/];
/**
 * An asset's path in the web folder: a file name, in at most two folders (the page's modules, `js/pages/board.js`).
 * Every part starts with a letter or digit, so no part is `..` or hidden.
 */
const ASSET_PATH = /^(?:[A-Za-z0-9][A-Za-z0-9_-]*\/){0,2}[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+$/;
const CHART_ASSET = 'chart.umd.min.js';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** Sent with every response. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * Starts the console on `host:port` and resolves once it listens.
 * @throws {ConsoleError} for a host beyond loopback without allowRemote, allowedHosts on loopback or not host
 * names, a port in use, an unknown interface.
 * @example
 * const target = await resolveTarget({ outputs: '.sluice/outputs.json' });
 * const server = await startConsole({ target, port: 4310 });
 * // ... later
 * await server.close();
 * target.close();
 */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const host = options.host ?? DEFAULT_HOST;
  const allowRemote = options.allowRemote ?? false;
  assertListenable(host, allowRemote);
  const remote = !isLoopback(host);
  const extraHosts = allowedHostNames(options.allowedHosts ?? []);
  if (!remote && extraHosts.length > 0) {
    throw new ConsoleError(
      `allowedHosts apply beyond loopback only: on ${host} the console answers to localhost, 127.0.0.1 and ::1`,
    );
  }
  const access: Access = remote ? remoteAccess(host, extraHosts) : { token: undefined, hosts: new Set() };
  const context = { target: options.target, now: options.now ?? Date.now };
  const webRoot = options.webRoot ?? DEFAULT_WEB_ROOT;
  const secrets = secretValues(options.target);
  let chain: Promise<unknown> = Promise.resolve();
  /** Runs the requests that touch the dead-letter queues one at a time, in arrival order. */
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const run = chain.then(work, work);
    chain = run.catch(() => undefined);
    return run;
  };

  const server = createServer((request, response) => {
    const reply: Reply = { response, head: request.method === 'HEAD', secrets };
    serve(request, reply, { context, webRoot, access, exclusive }).catch((error: unknown) => {
      if (!response.headersSent) sendError(reply, error);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(listenError(error, host, options.port ?? 0));
    });
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);
  const url = `http://${urlHost(host)}:${port}/`;
  return {
    url,
    token: access.token?.value,
    openUrl: access.token === undefined ? url : `${url}?token=${access.token.value}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

interface Reply {
  readonly response: ServerResponse;
  /** A HEAD request: headers only. */
  readonly head: boolean;
  /** Values never to send (the secret's ARN). */
  readonly secrets: readonly string[];
}

interface ServeOptions {
  readonly context: { target: Target; now: () => number };
  readonly webRoot: string;
  readonly access: Access;
  readonly exclusive: <T>(work: () => Promise<T>) => Promise<T>;
}

async function serve(request: IncomingMessage, reply: Reply, options: ServeOptions): Promise<void> {
  const method = request.method ?? 'GET';
  const url = new URL(request.url ?? '/', 'http://console.invalid');
  const hostHeader = request.headers.host ?? '';
  const { access } = options;
  if (!isAllowedHost(hostName(hostHeader), access)) {
    sendJson(reply, 403, {
      error:
        access.token === undefined
          ? `this console answers only to localhost and 127.0.0.1 (the request was for '${hostHeader}')`
          : `this console answers only to loopback and its allowed host names (the request was for '${hostHeader}'): ` +
            'allow a name with --allow-host',
    });
    return;
  }
  const api = url.pathname === '/api' || url.pathname.startsWith('/api/');
  if (access.token !== undefined && !passesToken(checkToken(request, url, api, access.token.digest), reply)) return;
  if (api) {
    await serveApi(request, reply, url, options);
    return;
  }
  await serveStatic(method, url.pathname, reply, options.webRoot);
}

/** Answers a request whose token does not pass; whether it passes. */
function passesToken(check: TokenCheck, reply: Reply): boolean {
  if (check.kind === 'pass') return true;
  if (check.kind === 'set-cookie') {
    reply.response.writeHead(303, {
      ...SECURITY_HEADERS,
      Location: check.location,
      'Set-Cookie': check.cookie,
      'Content-Length': 0,
    });
    reply.response.end();
    return false;
  }
  reply.response.setHeader('WWW-Authenticate', 'Bearer realm="sluice console"');
  sendJson(reply, 401, { error: check.message });
  return false;
}

async function serveApi(request: IncomingMessage, reply: Reply, url: URL, options: ServeOptions): Promise<void> {
  const method = request.method ?? 'GET';
  const match = matchRoute(method, url.pathname);
  if (match.kind === 'none') {
    sendJson(reply, 404, { error: `no API route ${url.pathname}` });
    return;
  }
  if (match.kind === 'wrong-method') {
    reply.response.setHeader('Allow', match.allowed.join(', '));
    sendJson(reply, 405, { error: `${method} is not allowed on ${url.pathname}: use ${match.allowed.join(' or ')}` });
    return;
  }
  const route: ApiRoute = match.route;
  const body = route.method === 'POST' ? await readJsonBody(request, options.access) : undefined;
  const work = () => route.handle(options.context, { query: url.searchParams, params: match.params, body });
  const result = route.exclusive ? await options.exclusive(work) : await work();
  sendJson(reply, 200, result);
}

/** The body of a POST: JSON, from this page only (access.ts's `crossSiteRefusal`). */
async function readJsonBody(request: IncomingMessage, access: Access): Promise<unknown> {
  const refusal = crossSiteRefusal(request, access);
  if (refusal !== undefined) throw new ApiError(403, refusal);
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(415, `send the body as JSON with Content-Type: application/json (got '${type ?? ''}')`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(400, `the body is not JSON: ${(error as Error).message}`, {}, { cause: error });
  }
}

async function serveStatic(method: string, pathname: string, reply: Reply, webRoot: string): Promise<void> {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  const page = PAGE_ROUTES.some((route) => route.test(path));
  const asset = path.startsWith('/assets/') ? decodeAsset(path.slice('/assets/'.length)) : undefined;
  if (!page && asset === undefined && path !== '/favicon.ico') {
    sendJson(reply, 404, {
      error: `no page ${pathname}: the pages are /board, /items, /items/ID, /dead-letters and /economics`,
    });
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    reply.response.setHeader('Allow', 'GET, HEAD');
    sendJson(reply, 405, { error: `${method} is not allowed on ${pathname}: use GET` });
    return;
  }
  if (path === '/favicon.ico') {
    reply.response.writeHead(204, SECURITY_HEADERS).end();
    return;
  }
  if (page) {
    await sendFile(reply, join(webRoot, 'index.html'), "the console's pages are missing (no console/web/index.html)");
    return;
  }
  if (asset === CHART_ASSET) {
    const file = chartFile();
    if (file === undefined) {
      sendJson(reply, 404, { error: 'chart.js is not installed (node_modules/chart.js): run npm install' });
      return;
    }
    await sendFile(reply, file, `${CHART_ASSET} is missing from node_modules/chart.js/dist`);
    return;
  }
  if (asset === null || asset === undefined || !ASSET_PATH.test(asset)) {
    sendJson(reply, 404, { error: `no asset ${pathname}` });
    return;
  }
  await sendFile(reply, join(webRoot, asset), `no asset ${pathname} (console/web/${asset} does not exist)`);
}

/** The asset's path, or null when it is not a plain one (a traversal, a hidden file, bad percent-encoding). */
function decodeAsset(encoded: string): string | null {
  try {
    const name = decodeURIComponent(encoded);
    return ASSET_PATH.test(name) ? name : null;
  } catch {
    return null;
  }
}

let chartPath: string | undefined;

/** Chart.js's UMD build from node_modules, served as is: nothing is fetched from elsewhere. */
function chartFile(): string | undefined {
  if (chartPath === undefined) {
    try {
      // The package's main entry sits in dist/, beside the UMD build.
      chartPath = join(dirname(createRequire(import.meta.url).resolve('chart.js')), CHART_ASSET);
    } catch {
      return undefined;
    }
  }
  return chartPath;
}

async function sendFile(reply: Reply, file: string, missing: string): Promise<void> {
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') {
      sendJson(reply, 404, { error: missing });
      return;
    }
    throw error;
  }
  reply.response.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': content.length,
  });
  reply.response.end(reply.head ? undefined : content);
}

function sendJson(reply: Reply, status: number, body: unknown): void {
  let text = `${JSON.stringify(body)}\n`;
  // Nothing the API reads holds the secret's ARN; this keeps it so should that change.
  for (const secret of reply.secrets) text = text.replaceAll(secret, '[redacted]');
  const content = Buffer.from(text, 'utf8');
  reply.response.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': content.length,
  });
  reply.response.end(reply.head ? undefined : content);
}

/** An error as a JSON answer: the API's refusals as they are, the CLI's expected failures as 409 / 502. */
function sendError(reply: Reply, error: unknown): void {
  if (error instanceof ApiError) {
    sendJson(reply, error.status, { error: error.message, ...error.details });
  } else if (error instanceof CommandError) {
    sendJson(reply, 409, { error: error.message });
  } else if (error instanceof TargetError) {
    sendJson(reply, 502, { error: error.message });
  } else {
    sendJson(reply, 500, { error: `the console failed: ${errorText(error)}` });
  }
}

/** The values of the stack's outputs that name its secret. */
function secretValues(target: Target): string[] {
  return Object.entries(target.outputs)
    .filter(([key, value]) => /secret/i.test(key) && value.length > 0)
    .map(([, value]) => value);
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  if (error.code === 'EADDRINUSE') {
    return new ConsoleError(`port ${port} on ${host} is in use: choose another with --port (0 picks a free one)`, {
      cause: error,
    });
  }
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
    return new ConsoleError(`cannot listen on ${host}: no such interface on this machine`, { cause: error });
  }
  if (error.code === 'EACCES') {
    return new ConsoleError(`not allowed to listen on port ${port} of ${host}: choose a port above 1023`, {
      cause: error,
    });
  }
  return new ConsoleError(`cannot listen on ${host}:${port}: ${errorText(error)}`, { cause: error });
}

/** How a URL names the host: a wildcard address as loopback, an IPv6 address in brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return isIP(host) === 6 ? `[${host}]` : host;
}
