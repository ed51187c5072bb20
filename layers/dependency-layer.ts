import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { AssetHashType } from 'aws-cdk-lib';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import * as z from 'zod';

/**
 * Third-party runtime dependencies shared by the stage functions. With the layer on, the functions mark these
 * modules (and their subpaths) external and load them from `/opt/nodejs/node_modules`.
 */
export const DEPENDENCY_LAYER_PACKAGES = [
  'openai',
  'zod',
  '@middy/core',
  '@aws-lambda-powertools/logger',
  '@aws-lambda-powertools/metrics',
  '@aws-lambda-powertools/tracer',
  '@aws-lambda-powertools/parameters',
  '@aws-lambda-powertools/batch',
] as const;

/**
 * Never copied into the layer: the AWS SDK is provided by the Lambda Node.js runtime (and external in every
 * bundle); `@types/*` packages hold type declarations only. `@smithy/*` packages are copied when a non-SDK
 * package needs them (aws-xray-sdk-core does): the runtime's own copies are internal to its SDK.
 */
const SKIPPED_SCOPES = ['@aws-sdk/', '@types/'];

/**
 * Never executed or needed at run time: type declarations and TypeScript sources (Node does not strip types
 * under node_modules), source maps (each one costs init time under --enable-source-maps) and docs.
 */
const PRUNED_FILE = /\.(?:[cm]?ts|map|md|markdown)$/i;

const packageManifestSchema = z.object({
  name: z.string(),
  dependencies: z.record(z.string(), z.string()).optional(),
  optionalDependencies: z.record(z.string(), z.string()).optional(),
  peerDependencies: z.record(z.string(), z.string()).optional(),
  peerDependenciesMeta: z.record(z.string(), z.object({ optional: z.boolean().optional() })).optional(),
});

/** The dependency layer cannot be built from what is installed. */
export class DependencyLayerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DependencyLayerError';
  }
}

function readManifest(packageDir: string): z.infer<typeof packageManifestSchema> {
  const file = join(packageDir, 'package.json');
  try {
    return packageManifestSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    throw new DependencyLayerError(`cannot read ${file}`, { cause: error });
  }
}

/** Node's lookup: the requiring package's own node_modules first, then each enclosing node_modules up to the root. */
function resolvePackageDir(name: string, fromDir: string, projectRoot: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    if (basename(dir) !== 'node_modules') {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
    }
    if (dir === projectRoot) return undefined;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function isSkipped(name: string): boolean {
  return SKIPPED_SCOPES.some((scope) => name.startsWith(scope));
}

/**
 * The installed directories of `packages` and of everything they need at run time (dependencies, installed
 * optional dependencies and required peers), relative to `<projectRoot>/node_modules`, sorted. The AWS SDK
 * (provided by the Lambda runtime) and `@types/*` are left out.
 * @throws {DependencyLayerError} if a listed package or a required dependency is not installed.
 * @example
 * dependencyClosure('/work/app', ['zod']); // ['zod']
 */
export function dependencyClosure(projectRoot: string, packages: readonly string[]): string[] {
  const nodeModules = join(projectRoot, 'node_modules');
  const found = new Set<string>();
  const pending: { name: string; from: string; required: boolean; by: string }[] = packages.map((name) => ({
    name,
    from: projectRoot,
    required: true,
    by: 'the layer',
  }));
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (isSkipped(next.name)) continue;
    const dir = resolvePackageDir(next.name, next.from, projectRoot);
    if (dir === undefined) {
      if (next.required) {
        throw new DependencyLayerError(`${next.name} (needed by ${next.by}) is not installed under ${nodeModules}`);
      }
      continue;
    }
    if (found.has(dir)) continue;
    found.add(dir);
    const manifest = readManifest(dir);
    const by = manifest.name;
    for (const name of Object.keys(manifest.dependencies ?? {})) pending.push({ name, from: dir, required: true, by });
    for (const name of Object.keys(manifest.optionalDependencies ?? {})) {
      pending.push({ name, from: dir, required: false, by });
    }
    for (const name of Object.keys(manifest.peerDependencies ?? {})) {
      const optional = manifest.peerDependenciesMeta?.[name]?.optional === true;
      if (!optional) pending.push({ name, from: dir, required: true, by });
    }
  }
  return [...found].map((dir) => relative(nodeModules, dir).split(sep).join('/')).sort();
}

/**
 * Copies the closure of `packages` from `<projectRoot>/node_modules` into `targetNodeModules`, keeping the
 * installed layout (nested copies stay nested) and leaving out files never needed at run time.
 * @returns the copied package directories, relative to `targetNodeModules`.
 * @example
 * copyDependencyClosure(projectRoot, DEPENDENCY_LAYER_PACKAGES, join(outputDir, 'nodejs', 'node_modules'));
 */
export function copyDependencyClosure(
  projectRoot: string,
  packages: readonly string[],
  targetNodeModules: string,
): string[] {
  const nodeModules = join(projectRoot, 'node_modules');
  const closure = dependencyClosure(projectRoot, packages);
  for (const packagePath of closure) {
    const source = join(nodeModules, packagePath);
    const nested = join(source, 'node_modules');
    const target = join(targetNodeModules, packagePath);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(source, target, {
      recursive: true,
      dereference: true,
      // Nested node_modules are copied as packages of their own, and only when something needs them.
      filter: (path) => path !== nested && !PRUNED_FILE.test(path),
    });
  }
  return closure;
}

/** Properties of {@link DependencyLayer}. */
export interface DependencyLayerProps {
  /** Folder holding `package.json` and the installed `node_modules`. */
  readonly projectRoot: string;
  /**
   * Packages to ship, with their run-time dependency closure.
   * @default DEPENDENCY_LAYER_PACKAGES
   */
  readonly packages?: readonly string[];
}

/**
 * A Lambda layer (Node.js 24, arm64) holding the shared third-party runtime dependencies. Its asset is built at
 * synth without Docker and without network: the installed packages are copied from the project's node_modules.
 * @example
 * const layer = new DependencyLayer(this, 'DependencyLayer', { projectRoot });
 * new NodejsFunction(this, 'Fn', { layers: [layer], bundling: { externalModules: [...layer.packages] } });
 */
export class DependencyLayer extends LayerVersion {
  /** The packages the layer provides; functions using it mark them external. */
  readonly packages: readonly string[];

  constructor(scope: Construct, id: string, props: DependencyLayerProps) {
    const packages = props.packages ?? DEPENDENCY_LAYER_PACKAGES;
    const runtime = Runtime.NODEJS_24_X;
    super(scope, id, {
      description: `Shared runtime dependencies: ${packages.join(', ')}`,
      compatibleRuntimes: [runtime],
      compatibleArchitectures: [Architecture.ARM_64],
      code: Code.fromAsset(import.meta.dirname, {
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          // Never pulled: local bundling always succeeds or throws.
          image: runtime.bundlingImage,
          local: {
            tryBundle(outputDir: string): boolean {
              copyDependencyClosure(props.projectRoot, packages, join(outputDir, 'nodejs', 'node_modules'));
              return true;
            },
          },
        },
      }),
    });
    this.packages = packages;
  }
}
