import type { LocalFunction } from '../resources.ts';
import { LambdaApiError, namesFunction } from './lambda-api.ts';

/** A function of the deployment as `GetFunctionConfiguration` describes it, with what the template says of it. */
export interface ServedFunction {
  readonly function: LocalFunction;
  /** The template's `Runtime`, e.g. `nodejs24.x`. */
  readonly runtime?: string | undefined;
  readonly handler?: string | undefined;
  readonly architectures?: readonly string[] | undefined;
  /** The execution role's ARN (the role itself is not emulated). */
  readonly role?: string | undefined;
}

/** `FunctionConfiguration` as the Lambda API returns it (the members a local function has). */
export interface FunctionConfiguration {
  readonly FunctionName: string;
  readonly FunctionArn: string;
  readonly Runtime?: string;
  readonly Role?: string;
  readonly Handler?: string;
  readonly Timeout: number;
  readonly MemorySize: number;
  /** As Lambda writes it, e.g. `2026-11-21T08:55:12.000+0000`. */
  readonly LastModified: string;
  readonly Version: '$LATEST';
  readonly Environment: { readonly Variables: Readonly<Record<string, string>> };
  readonly State: 'Active';
  readonly LastUpdateStatus: 'Successful';
  readonly PackageType: 'Zip';
  readonly Architectures?: readonly string[];
}

/**
 * The deployment's functions as `GetFunctionConfiguration` and `GetFunction` see them: their settings from the
 * template and their environment as resolved locally (the values the handlers run with).
 * @example
 * const functions = new LocalFunctions([{ function: fn, runtime: 'nodejs24.x' }]);
 * functions.configuration('ExtractFunction').Environment.Variables.SLUICE_RUNTIME_CONFIG;
 */
export class LocalFunctions {
  readonly #functions: readonly ServedFunction[];
  readonly #lastModified: string;

  constructor(functions: readonly ServedFunction[], options: { readonly clock?: () => number } = {}) {
    this.#functions = functions;
    this.#lastModified = new Date((options.clock ?? Date.now)()).toISOString().replace('Z', '+0000');
  }

  /**
   * `GetFunctionConfiguration`: the function a name, ARN or partial ARN names (qualified by `$LATEST` or not).
   * @throws {LambdaApiError} `ResourceNotFoundException` for a function the deployment does not have.
   */
  configuration(name: string, qualifier?: string): FunctionConfiguration {
    const served = this.#find(name, qualifier);
    const fn = served.function;
    return {
      FunctionName: fn.functionName,
      FunctionArn: fn.functionArn,
      ...(served.runtime !== undefined && { Runtime: served.runtime }),
      ...(served.role !== undefined && { Role: served.role }),
      ...(served.handler !== undefined && { Handler: served.handler }),
      Timeout: fn.timeoutSeconds,
      MemorySize: fn.memoryMb,
      LastModified: this.#lastModified,
      Version: '$LATEST',
      Environment: { Variables: { ...fn.environment } },
      State: 'Active',
      LastUpdateStatus: 'Successful',
      PackageType: 'Zip',
      ...(served.architectures !== undefined && { Architectures: [...served.architectures] }),
    };
  }

  /**
   * `GetFunction`: the configuration and the reserved concurrency (there is no code package to point at).
   * @throws {LambdaApiError} `ResourceNotFoundException` for a function the deployment does not have.
   */
  get(
    name: string,
    qualifier?: string,
  ): { Configuration: FunctionConfiguration; Concurrency?: { ReservedConcurrentExecutions: number } } {
    const reserved = this.#find(name, qualifier).function.reservedConcurrency;
    return {
      Configuration: this.configuration(name, qualifier),
      ...(reserved !== undefined && { Concurrency: { ReservedConcurrentExecutions: reserved } }),
    };
  }

  #find(name: string, qualifier: string | undefined): ServedFunction {
    // A qualified name or ARN (`Name:$LATEST`) names the unpublished version, the only one there is locally.
    const [bare, inlineQualifier] = splitQualifier(name);
    const version = qualifier ?? inlineQualifier;
    const served = this.#functions.find((candidate) => namesFunction(bare, candidate.function));
    if (served === undefined || (version !== undefined && version !== '$LATEST')) {
      const arn = served?.function.functionArn ?? name;
      throw new LambdaApiError(
        'ResourceNotFoundException',
        404,
        `Function not found: ${arn}${version === undefined ? '' : `:${version}`}`,
      );
    }
    return served;
  }
}

/** `Name:$LATEST` or `arn:...:function:Name:$LATEST` → the name or ARN and the qualifier. */
function splitQualifier(name: string): [string, string | undefined] {
  const parts = name.split(':');
  const isArn = parts[0] === 'arn';
  // An unqualified ARN has 7 parts (arn:aws:lambda:region:account:function:name); a bare name has 1.
  if ((isArn && parts.length === 8) || (!isArn && parts.length === 2)) {
    return [parts.slice(0, -1).join(':'), parts.at(-1)];
  }
  return [name, undefined];
}
