import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as z from 'zod';

/**
 * The local Secrets Manager's records: a secret and its versions as the store keeps them, the staging-label rules,
 * the ARN forms a SecretId may take, and the file the store survives a restart in.
 */

/** The staging label of a secret's current value, the one GetSecretValue returns by default. */
export const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
/** One day in milliseconds: the unit of recovery windows and of the last-access date. */
export const DAY_MS = 86_400_000;

const versionSchema = z.object({
  versionId: z.string(),
  secretString: z.string().optional(),
  /** Base64, as the wire carries it. */
  secretBinary: z.string().optional(),
  createdMs: z.number(),
  stages: z.array(z.string()),
});
const secretSchema = z.object({
  name: z.string(),
  arn: z.string(),
  description: z.string().optional(),
  kmsKeyId: z.string().optional(),
  tags: z.array(z.object({ Key: z.string(), Value: z.string() })),
  createdMs: z.number(),
  lastChangedMs: z.number(),
  lastAccessedMs: z.number().optional(),
  /** Set while the secret is scheduled for deletion: when it will be deleted. */
  deletionMs: z.number().optional(),
  versions: z.array(versionSchema),
});
const storeFileSchema = z.object({ secrets: z.array(secretSchema) });
/** A secret as the store keeps it. */
export type StoredSecret = z.infer<typeof secretSchema>;
/** One version of a secret, with its staging labels. */
export type StoredVersion = z.infer<typeof versionSchema>;

/**
 * Adds a version and moves the staging labels to it, as PutSecretValue does: the version that loses
 * `AWSCURRENT` gets `AWSPREVIOUS`, and versions left with no label are dropped.
 */
export function addVersion(secret: StoredSecret, version: StoredVersion, stages: readonly string[]): void {
  const formerCurrent = stages.includes(CURRENT) ? currentVersion(secret) : undefined;
  for (const other of secret.versions) other.stages = other.stages.filter((stage) => !stages.includes(stage));
  version.stages = [...new Set(stages)];
  if (formerCurrent !== undefined) {
    for (const other of secret.versions) other.stages = other.stages.filter((stage) => stage !== PREVIOUS);
    formerCurrent.stages.push(PREVIOUS);
  }
  secret.versions.push(version);
  secret.versions = secret.versions.filter((candidate) => candidate.stages.length > 0);
}

/** The version labelled `AWSCURRENT`, if any. */
export function currentVersion(secret: StoredSecret): StoredVersion | undefined {
  return secret.versions.find((version) => version.stages.includes(CURRENT));
}

/**
 * The name in a secret's ARN: the resource part without the suffix Secrets Manager appends (`-` and six
 * characters), or the `-local` suffix of the local runtime's ARNs.
 * @example nameOfSecretArn('arn:aws:secretsmanager:us-east-1:1:secret:prod/key-AbC123') // 'prod/key'
 */
export function nameOfSecretArn(arn: string): string {
  const marker = ':secret:';
  const at = arn.indexOf(marker);
  if (at < 0) return arn;
  const resource = arn.slice(at + marker.length);
  return resource.replace(/-(?:[A-Za-z0-9]{6}|local)$/, '') || resource;
}

/** An ARN without its random suffix, which Secrets Manager also accepts as a SecretId. */
export function partialArnOf(secret: StoredSecret): string {
  const suffix = secret.arn.lastIndexOf('-');
  return suffix > secret.arn.indexOf(':secret:') ? secret.arn.slice(0, suffix) : secret.arn;
}

/** The six characters Secrets Manager appends to a secret's ARN. */
export function randomSuffix(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(6)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** awsJson writes timestamps as epoch seconds. */
export function seconds(ms: number): number {
  return ms / 1000;
}

/** AWS keeps only the day of the last access. */
export function startOfDay(ms: number): number {
  return ms - (ms % DAY_MS);
}

/**
 * The secrets in the file, or none when there is no file yet.
 * @throws {Error} naming the file when it is not a store of this kind.
 */
export async function readStoreFile(file: string): Promise<StoredSecret[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = storeFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${file} is not a store of the local Secrets Manager; delete it to start afresh`);
  }
  return parsed.data.secrets;
}

/**
 * The file's text for these secrets, taken when a change is made so a later change cannot alter a queued write.
 * @example await writeStoreFile(file, storeFileText(secrets));
 */
export function storeFileText(secrets: readonly StoredSecret[]): string {
  return `${JSON.stringify({ secrets }, null, 2)}\n`;
}

/**
 * Writes the text beside the file and renames it over, so a crash never leaves half a file; readable by this
 * user only.
 * @example await writeStoreFile(file, storeFileText(secrets));
 */
export async function writeStoreFile(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, text, { encoding: 'utf8', mode: 0o600 });
  await chmod(partial, 0o600);
  await rename(partial, file);
}
