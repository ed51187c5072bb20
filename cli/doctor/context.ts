import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { SluiceConfig } from '#lib/config.ts';
import type { Target } from '#ops/target.ts';
import { readApiKeySecret, type SecretRead } from './api-key-secret.ts';
import { readStageFunctions, type StageFunction } from './stage-functions.ts';

/** What every check of one report shares: the target, the options, and the reads more than one check needs. */

export interface DoctorOptions {
  /** Time limit of each check. */
  timeoutMs: number;
  /** The client the deployed template is read through (its alarm names); by default one for the target's region. */
  cloudformation?: CloudFormationClient | undefined;
  /** The client the stage roles' permissions are simulated through; by default one for the target's region. */
  iam?: IAMClient | undefined;
  /** The config a deploy would use, for the reserved concurrency it asks for; by default the project's cdk.json. */
  config?: SluiceConfig | undefined;
}

/** Default time limit of one check. */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

export interface DoctorContext {
  readonly target: Target;
  readonly options: DoctorOptions;
  /** The target is the local runtime, not a deployed stack. */
  readonly local: boolean;
  /** Aborts what the shared reads still have under way once the report is done. */
  readonly shared: AbortController;
  /** The stage functions' configurations, read once for every check that asks. */
  stageFunctions(): Promise<StageFunction[]>;
  /** The API key secret, read once for every check that asks. */
  apiKeySecret(): Promise<SecretRead>;
}

/**
 * A fresh context for one report: its shared reads start on first use, and `shared.abort()` ends them.
 * @example const context = doctorContext(target, { timeoutMs: 10_000 }); try { ... } finally { context.shared.abort(); }
 */
export function doctorContext(target: Target, options: DoctorOptions): DoctorContext {
  const shared = new AbortController();
  let functions: Promise<StageFunction[]> | undefined;
  let secret: Promise<SecretRead> | undefined;
  return {
    target,
    options,
    local: target.kind === 'local',
    shared,
    stageFunctions: () => {
      functions ??= readStageFunctions(target, shared.signal);
      return functions;
    },
    apiKeySecret: () => {
      secret ??= readApiKeySecret(target);
      return secret;
    },
  };
}
