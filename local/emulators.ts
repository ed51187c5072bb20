import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type BuildAppOptions, buildApp } from 'fauxqs';
import { type LocalCredentials, localCredentials } from '#lib/outputs.ts';
import { captureDynaliteStore, rebuildIndexes } from '#local/dynalite-indexes.ts';

/** Account id the emulators put in every ARN (fauxqs hard-codes it). */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** Region used when none is given. */
export const DEFAULT_LOCAL_REGION = 'us-east-1';

const LOOPBACK = '127.0.0.1';

export interface EmulatorOptions {
  /**
   * Directory to persist state in: SQS under `<dataDir>/sqs`, DynamoDB under `<dataDir>/dynamodb`.
   * @default in-memory, lost on stop
   */
  readonly dataDir?: string;
  /** @default 0 (any free port) */
  readonly sqsPort?: number;
  /** @default 0 (any free port) */
  readonly dynamoPort?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
}

export interface Emulators {
  /** e.g. `http://127.0.0.1:40123` */
  readonly sqsEndpoint: string;
  /** e.g. `http://127.0.0.1:40124` */
  readonly dynamoEndpoint: string;
  readonly region: string;
  readonly credentials: LocalCredentials;
  /** Stops both servers; state is flushed to `dataDir` when one was given. */
  stop(): Promise<void>;
}

/**
 * Starts fauxqs (SQS) and dynalite (DynamoDB) in this process, listening on loopback only and logging nothing.
 *
 * @example
 * ```ts
 * const emulators = await startEmulators({ dataDir: '.sluice/data' });
 * const sqs = new SQSClient({ endpoint: emulators.sqsEndpoint, region: emulators.region, credentials: emulators.credentials });
 * // ...
 * await emulators.stop();
 * ```
 */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const region = options.region ?? DEFAULT_LOCAL_REGION;
  const sqs = await startSqs(region, options.sqsPort ?? 0, options.dataDir && join(options.dataDir, 'sqs'));
  let dynamo: RunningServer;
  try {
    dynamo = await startDynamo(options.dynamoPort ?? 0, options.dataDir && join(options.dataDir, 'dynamodb'));
  } catch (error) {
    await sqs.stop();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    sqsEndpoint: sqs.endpoint,
    dynamoEndpoint: dynamo.endpoint,
    region,
    get credentials() {
      return localCredentials();
    },
    stop() {
      stopped ??= stopAll([sqs, dynamo]);
      return stopped;
    },
  };
}

interface RunningServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

async function stopAll(servers: readonly RunningServer[]): Promise<void> {
  const results = await Promise.allSettled(servers.map((server) => server.stop()));
  const errors = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
  if (errors.length > 0) {
    throw new AggregateError(errors, 'Failed to stop the local emulators');
  }
}

type FauxqsStores = NonNullable<BuildAppOptions['stores']>;
type FauxqsPersistence = NonNullable<FauxqsStores['sqsStore']['persistence']>;

async function startSqs(region: string, port: number, dataDir: string | undefined): Promise<RunningServer> {
  await assertFauxqsTakesAstralCharacters();
  // startFauxqs() always binds 0.0.0.0, which would expose an unauthenticated queue service to the network,
  // so the app is built and bound here; persistence needs the same store wiring startFauxqs() does.
  const persistent = dataDir === undefined ? undefined : await openFauxqsPersistence(dataDir);
  const app = buildApp({
    logger: false,
    defaultRegion: region,
    ...(persistent && { stores: persistent.stores }),
  });
  if (persistent) {
    app.addHook('preClose', () => persistent.persistence.close());
  }
  try {
    await app.listen({ port, host: LOOPBACK });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new Error('fauxqs did not report a TCP address');
  }
  return {
    endpoint: `http://${LOOPBACK}:${address.port}`,
    async stop() {
      await app.close();
    },
  };
}

/**
 * SQS accepts #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF in a message body;
 * fauxqs 2.4.1 refuses everything above U+FFFF, because its validation regex lacks the `u` flag and so sees the
 * two halves of a surrogate pair as two forbidden characters. An emoji in a title would then be refused at the
 * intake queue, and an LLM answer carrying one would dead-letter its item after the calls were paid, when the
 * stage hands the answer on. `patches/fauxqs+2.4.1.patch` (applied by patch-package in `postinstall`) adds the
 * flag and the astral range; this fails fast when it was not applied (e.g. `npm ci --ignore-scripts`), rather
 * than letting such items die far from the cause.
 */
async function assertFauxqsTakesAstralCharacters(): Promise<void> {
  const file = './sqs/sqsTypes.js';
  const module: unknown = await import(new URL(file, import.meta.resolve('fauxqs')).href);
  const rule =
    typeof module === 'object' && module !== null ? Reflect.get(module, 'INVALID_MESSAGE_BODY_CHAR') : undefined;
  if (!(rule instanceof RegExp)) {
    throw new Error(`fauxqs no longer provides INVALID_MESSAGE_BODY_CHAR in ${file}; patches/ needs updating`);
  }
  if (rule.test('\u{1F680}') || !rule.test('\uD83D')) {
    throw new Error(
      'fauxqs is not patched: it would refuse characters above U+FFFF, which SQS accepts. ' +
        'Run `npm install` (its postinstall applies patches/ with patch-package), or `npx patch-package`.',
    );
  }
}

/** The fauxqs classes behind its `dataDir` option; they are not exported, so they are loaded by file. */
async function openFauxqsPersistence(
  dataDir: string,
): Promise<{ stores: FauxqsStores; persistence: FauxqsPersistence }> {
  const entry = import.meta.resolve('fauxqs');
  const load = async (file: string, name: string): Promise<unknown> => {
    const module: unknown = await import(new URL(file, entry).href);
    const exported = typeof module === 'object' && module !== null ? Reflect.get(module, name) : undefined;
    if (typeof exported !== 'function') {
      throw new Error(`fauxqs no longer provides ${name} in ${file}; local persistence needs updating`);
    }
    return exported;
  };
  // The casts restate the classes' declared types (the d.ts files describe them, the package does not export them).
  const SqsStore = (await load('./sqs/sqsStore.js', 'SqsStore')) as new () => FauxqsStores['sqsStore'];
  const SnsStore = (await load('./sns/snsStore.js', 'SnsStore')) as new () => FauxqsStores['snsStore'];
  const S3Store = (await load('./s3/s3Store.js', 'S3Store')) as new () => FauxqsStores['s3Store'];
  const PersistenceManager = (await load('./persistence.js', 'PersistenceManager')) as new (
    dir: string,
  ) => FauxqsPersistence;

  const stores: FauxqsStores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
  const persistence = new PersistenceManager(dataDir);
  keepReceiveCountWhenMadeVisible(persistence);
  // Loading first and attaching afterwards keeps the load from writing every row back.
  persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store);
  stores.sqsStore.persistence = persistence;
  stores.snsStore.persistence = persistence;
  stores.s3Store.persistence = persistence;
  for (const queue of stores.sqsStore.allQueues()) {
    queue.persistence = persistence;
  }
  return { stores, persistence };
}

/**
 * fauxqs 2.4.1 writes NULL into the NOT NULL receive-count column when a persisted message is made visible
 * again (ChangeMessageVisibility to 0), so the call fails with "Message does not exist". Clearing only the
 * in-flight columns keeps the receive count, as SQS does.
 */
function keepReceiveCountWhenMadeVisible(persistence: FauxqsPersistence): void {
  const db: unknown = Reflect.get(persistence, 'db');
  const prepare = typeof db === 'object' && db !== null ? Reflect.get(db, 'prepare') : undefined;
  if (typeof prepare !== 'function')
    throw new Error('fauxqs persistence no longer has a database; local persistence needs updating');
  const makeVisible = prepare.call(
    db,
    'UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE message_id = ?',
  ) as { run(messageId: string): unknown };
  Reflect.set(persistence, 'updateMessageReady', (messageId: string) => {
    makeVisible.run(messageId);
  });
}

interface DynaliteOptions {
  readonly path?: string;
  readonly createTableMs?: number;
  readonly deleteTableMs?: number;
  readonly updateTableMs?: number;
}

type Dynalite = (options: DynaliteOptions) => Server;

/**
 * Present in a DynamoDB data dir while a process has it open; found at start, it means the last one did not stop
 * (killed, crashed), so the indexes are rebuilt before anything reads them (see dynalite-indexes.ts).
 */
const OPEN_MARKER = 'sluice-open';

async function startDynamo(port: number, dataDir: string | undefined): Promise<RunningServer> {
  // dynalite is CommonJS without type declarations; its factory signature is restated by Dynalite.
  const dynalite = createRequire(import.meta.url)('dynalite') as Dynalite;
  const marker = dataDir && join(dataDir, OPEN_MARKER);
  if (dataDir !== undefined) {
    await mkdir(dataDir, { recursive: true });
  }
  const { value: server, store } = captureDynaliteStore(() =>
    dynalite({
      createTableMs: 0,
      deleteTableMs: 0,
      updateTableMs: 0,
      ...(dataDir !== undefined && { path: dataDir }),
    }),
  );
  if (marker !== undefined) {
    const leftOpen = await access(marker).then(
      () => true,
      () => false,
    );
    if (leftOpen) await rebuildIndexes(store);
    await writeFile(marker, `${process.pid}\n`);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('dynalite did not report a TCP address');
  }
  return {
    endpoint: `http://${LOOPBACK}:${address.port}`,
    async stop() {
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets of SDK clients would otherwise hold the close open.
        server.closeAllConnections();
      });
      if (marker !== undefined) await rm(marker, { force: true });
    },
  };
}
