import { randomUUID } from 'node:crypto';
import type * as z from 'zod';
import {
  addVersion,
  CURRENT,
  currentVersion,
  DAY_MS,
  nameOfSecretArn,
  partialArnOf,
  randomSuffix,
  readStoreFile,
  type StoredSecret,
  type StoredVersion,
  seconds,
  startOfDay,
  storeFileText,
  writeStoreFile,
} from './secret-records.ts';
import {
  isServedAction,
  parseRequest,
  requestSchemas,
  SECRETS_MANAGER_ACTIONS,
  SecretsManagerApiError,
  secretValueOf,
} from './secret-requests.ts';

/**
 * The part of AWS Secrets Manager's JSON API (awsJson1.1: `POST /` with `X-Amz-Target: secretsmanager.<Action>`)
 * that sluice uses, served by the local runtime's control server (secrets-routes.ts) for `@aws-sdk/client-secrets-manager` and
 * Powertools' `SecretsProvider`: `CreateSecret`, `GetSecretValue`, `PutSecretValue`, `DescribeSecret`,
 * `DeleteSecret` and `RestoreSecret`, with AWS's staging labels (`AWSCURRENT`, `AWSPREVIOUS`), its recovery window
 * on deletion, and its errors. Secrets live in memory, or in one JSON file (written atomically) that survives a
 * restart.
 */

/** AWS's recovery window on DeleteSecret: 7 to 30 days, 30 by default. */
const RECOVERY_WINDOW_DAYS = { min: 7, max: 30, default: 30 } as const;
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@!-]{1,512}$/;

const notFound = () =>
  new SecretsManagerApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
const markedForDeletion = () =>
  new SecretsManagerApiError(
    'InvalidRequestException',
    "You can't perform this operation on the secret because it was marked for deletion.",
  );

export interface LocalSecretsManagerOptions {
  /** Region and account of the ARNs of secrets created through the API. */
  readonly region: string;
  readonly accountId: string;
  /** The JSON file the secrets are kept in across restarts; in memory when absent. */
  readonly file?: string | undefined;
  /** @default Date.now */
  readonly clock?: () => number;
}

/**
 * The local secret store behind the Secrets Manager API.
 * @example
 * const secrets = await LocalSecretsManager.open({ region: 'us-east-1', accountId: '000000000000', file });
 * await secrets.seed('arn:aws:secretsmanager:us-east-1:000000000000:secret:ApiKey-local', 'sk-test');
 * await secrets.call('GetSecretValue', { SecretId: 'ApiKey-local' }); // { SecretString: 'sk-test', ... }
 */
export class LocalSecretsManager {
  readonly #secrets: StoredSecret[];
  readonly #options: LocalSecretsManagerOptions;
  readonly #clock: () => number;
  /** Writes of the file, one after another. */
  #saving: Promise<void> = Promise.resolve();

  private constructor(secrets: StoredSecret[], options: LocalSecretsManagerOptions) {
    this.#secrets = secrets;
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /**
   * Opens the store: reads the file when one is given and exists, else starts empty.
   * @throws {Error} naming the file when it is not a store of this kind.
   */
  static async open(options: LocalSecretsManagerOptions): Promise<LocalSecretsManager> {
    return new LocalSecretsManager(options.file === undefined ? [] : await readStoreFile(options.file), options);
  }

  /**
   * Creates the secret with this ARN, or gives it a new current value (cancelling a scheduled deletion): how
   * `sluice dev` puts the API key in the stack's secret at start, as an operator's `put-secret-value` does on AWS.
   * @example await secrets.seed(outputs.ApiKeySecretArn, 'sluice-local-simulator');
   */
  async seed(arn: string, secretString: string): Promise<void> {
    const now = this.#clock();
    const name = nameOfSecretArn(arn);
    const existing = this.#secrets.find((secret) => secret.arn === arn);
    if (existing === undefined) {
      // A secret of the same name under another ARN (created through the API) gives way to the stack's.
      const sameName = this.#secrets.findIndex((secret) => secret.name === name);
      if (sameName >= 0) this.#secrets.splice(sameName, 1);
      this.#secrets.push({
        name,
        arn,
        tags: [],
        createdMs: now,
        lastChangedMs: now,
        versions: [{ versionId: randomUUID(), secretString, createdMs: now, stages: [CURRENT] }],
      });
    } else {
      existing.deletionMs = undefined;
      if (currentVersion(existing)?.secretString !== secretString) {
        addVersion(existing, { versionId: randomUUID(), secretString, createdMs: now, stages: [] }, [CURRENT]);
        existing.lastChangedMs = now;
      }
    }
    await this.#save();
  }

  /**
   * Answers one API action with its JSON request, as Secrets Manager would.
   * @throws {SecretsManagerApiError} AWS's error for the request (`ResourceNotFoundException`, ...).
   * @example await secrets.call('DescribeSecret', { SecretId: arn });
   */
  async call(action: string, request: unknown): Promise<Record<string, unknown>> {
    if (!isServedAction(action)) {
      throw new SecretsManagerApiError(
        'UnknownOperationException',
        `secretsmanager.${action} is not served locally: the local Secrets Manager has ${SECRETS_MANAGER_ACTIONS.join(', ')}`,
      );
    }
    this.#purgeExpired();
    switch (action) {
      case 'CreateSecret':
        return this.#create(parseRequest(requestSchemas.CreateSecret, request));
      case 'GetSecretValue':
        return this.#getValue(parseRequest(requestSchemas.GetSecretValue, request));
      case 'PutSecretValue':
        return this.#putValue(parseRequest(requestSchemas.PutSecretValue, request));
      case 'DescribeSecret':
        return this.#describe(parseRequest(requestSchemas.DescribeSecret, request));
      case 'DeleteSecret':
        return this.#delete(parseRequest(requestSchemas.DeleteSecret, request));
      case 'RestoreSecret':
        return this.#restore(parseRequest(requestSchemas.RestoreSecret, request));
    }
  }

  /** Waits for the file writes under way. */
  async flush(): Promise<void> {
    await this.#saving;
  }

  async #create(request: z.infer<(typeof requestSchemas)['CreateSecret']>): Promise<Record<string, unknown>> {
    if (!NAME_PATTERN.test(request.Name)) {
      throw new SecretsManagerApiError(
        'InvalidParameterException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    if (request.AddReplicaRegions !== undefined) {
      throw new SecretsManagerApiError(
        'InvalidParameterException',
        'AddReplicaRegions cannot be used on the local Secrets Manager: it has one region',
      );
    }
    const value = secretValueOf(request);
    const existing = this.#find(request.Name);
    if (existing?.deletionMs !== undefined) {
      throw new SecretsManagerApiError(
        'InvalidRequestException',
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
      );
    }
    if (existing !== undefined) {
      throw new SecretsManagerApiError(
        'ResourceExistsException',
        `The operation failed because the secret ${request.Name} already exists.`,
      );
    }
    const now = this.#clock();
    const secret: StoredSecret = {
      name: request.Name,
      arn: `arn:aws:secretsmanager:${this.#options.region}:${this.#options.accountId}:secret:${request.Name}-${randomSuffix()}`,
      ...(request.Description !== undefined && { description: request.Description }),
      ...(request.KmsKeyId !== undefined && { kmsKeyId: request.KmsKeyId }),
      tags: request.Tags ?? [],
      createdMs: now,
      lastChangedMs: now,
      versions: [],
    };
    const versionId = request.ClientRequestToken ?? randomUUID();
    // Without a value, AWS creates the secret with no version at all.
    if (value !== undefined) secret.versions.push({ versionId, ...value, createdMs: now, stages: [CURRENT] });
    this.#secrets.push(secret);
    await this.#save();
    return { ARN: secret.arn, Name: secret.name, ...(value !== undefined && { VersionId: versionId }) };
  }

  #getValue(request: z.infer<(typeof requestSchemas)['GetSecretValue']>): Record<string, unknown> {
    const secret = this.#live(request.SecretId);
    const version =
      request.VersionId !== undefined
        ? secret.versions.find((candidate) => candidate.versionId === request.VersionId)
        : secret.versions.find((candidate) => candidate.stages.includes(request.VersionStage ?? CURRENT));
    if (
      version === undefined ||
      (request.VersionStage !== undefined && !version.stages.includes(request.VersionStage))
    ) {
      const which =
        request.VersionId !== undefined
          ? `VersionId: ${request.VersionId}`
          : `staging label: ${request.VersionStage ?? CURRENT}`;
      throw new SecretsManagerApiError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for ${which}`,
      );
    }
    secret.lastAccessedMs = startOfDay(this.#clock());
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      ...(version.secretString !== undefined && { SecretString: version.secretString }),
      ...(version.secretBinary !== undefined && { SecretBinary: version.secretBinary }),
      VersionStages: [...version.stages],
      CreatedDate: seconds(version.createdMs),
    };
  }

  async #putValue(request: z.infer<(typeof requestSchemas)['PutSecretValue']>): Promise<Record<string, unknown>> {
    const secret = this.#live(request.SecretId);
    const value = secretValueOf(request);
    if (value === undefined) {
      throw new SecretsManagerApiError(
        'InvalidParameterException',
        'You must provide either SecretString or SecretBinary.',
      );
    }
    const stages = request.VersionStages ?? [CURRENT];
    const versionId = request.ClientRequestToken ?? randomUUID();
    const same = secret.versions.find((candidate) => candidate.versionId === versionId);
    if (same !== undefined) {
      // A retried request with the same token and value is answered again; a different value is refused.
      if (same.secretString !== value.secretString || same.secretBinary !== value.secretBinary) {
        throw new SecretsManagerApiError(
          'ResourceExistsException',
          `You can't modify an existing version, you can only create new versions. VersionId: ${versionId}`,
        );
      }
      return { ARN: secret.arn, Name: secret.name, VersionId: versionId, VersionStages: [...same.stages] };
    }
    const now = this.#clock();
    const version: StoredVersion = { versionId, ...value, createdMs: now, stages: [] };
    addVersion(secret, version, stages);
    secret.lastChangedMs = now;
    await this.#save();
    return { ARN: secret.arn, Name: secret.name, VersionId: versionId, VersionStages: [...version.stages] };
  }

  #describe(request: z.infer<(typeof requestSchemas)['DescribeSecret']>): Record<string, unknown> {
    const secret = this.#find(request.SecretId);
    if (secret === undefined) throw notFound();
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined && { Description: secret.description }),
      ...(secret.kmsKeyId !== undefined && { KmsKeyId: secret.kmsKeyId }),
      CreatedDate: seconds(secret.createdMs),
      LastChangedDate: seconds(secret.lastChangedMs),
      ...(secret.lastAccessedMs !== undefined && { LastAccessedDate: seconds(secret.lastAccessedMs) }),
      ...(secret.deletionMs !== undefined && { DeletedDate: seconds(secret.deletionMs) }),
      ...(secret.tags.length > 0 && { Tags: secret.tags }),
      VersionIdsToStages: Object.fromEntries(secret.versions.map((version) => [version.versionId, version.stages])),
    };
  }

  async #delete(request: z.infer<(typeof requestSchemas)['DeleteSecret']>): Promise<Record<string, unknown>> {
    const secret = this.#find(request.SecretId);
    if (secret === undefined) throw notFound();
    const force = request.ForceDeleteWithoutRecovery === true;
    if (force && request.RecoveryWindowInDays !== undefined) {
      throw new SecretsManagerApiError(
        'InvalidParameterException',
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    }
    const days = request.RecoveryWindowInDays ?? RECOVERY_WINDOW_DAYS.default;
    if (days < RECOVERY_WINDOW_DAYS.min || days > RECOVERY_WINDOW_DAYS.max) {
      throw new SecretsManagerApiError(
        'InvalidParameterException',
        `The RecoveryWindowInDays value must be between ${RECOVERY_WINDOW_DAYS.min} and ${RECOVERY_WINDOW_DAYS.max} days (inclusive).`,
      );
    }
    const now = this.#clock();
    if (force) {
      this.#secrets.splice(this.#secrets.indexOf(secret), 1);
    } else if (secret.deletionMs !== undefined) {
      throw markedForDeletion();
    } else {
      secret.deletionMs = now + days * DAY_MS;
    }
    await this.#save();
    return { ARN: secret.arn, Name: secret.name, DeletionDate: seconds(force ? now : (secret.deletionMs ?? now)) };
  }

  async #restore(request: z.infer<(typeof requestSchemas)['RestoreSecret']>): Promise<Record<string, unknown>> {
    const secret = this.#find(request.SecretId);
    if (secret === undefined) throw notFound();
    if (secret.deletionMs !== undefined) {
      secret.deletionMs = undefined;
      await this.#save();
    }
    return { ARN: secret.arn, Name: secret.name };
  }

  /** The secret a SecretId names: its name, its ARN, or its ARN without the random suffix. */
  #find(secretId: string): StoredSecret | undefined {
    return this.#secrets.find(
      (secret) => secret.name === secretId || secret.arn === secretId || partialArnOf(secret) === secretId,
    );
  }

  /** A secret that exists and is not scheduled for deletion. */
  #live(secretId: string): StoredSecret {
    const secret = this.#find(secretId);
    if (secret === undefined) throw notFound();
    if (secret.deletionMs !== undefined) throw markedForDeletion();
    return secret;
  }

  /** Secrets whose recovery window has ended are gone, as on AWS. */
  #purgeExpired(): void {
    const now = this.#clock();
    for (let index = this.#secrets.length - 1; index >= 0; index -= 1) {
      const deletion = this.#secrets[index]?.deletionMs;
      if (deletion !== undefined && deletion <= now) this.#secrets.splice(index, 1);
    }
  }

  async #save(): Promise<void> {
    const file = this.#options.file;
    if (file === undefined) return;
    const text = storeFileText(this.#secrets);
    // A failed write is the caller's error (its change would not survive a restart); the next write still runs.
    const written = this.#saving.then(() => writeStoreFile(file, text));
    this.#saving = written.catch(() => undefined);
    await written;
  }
}
