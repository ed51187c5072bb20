import { globSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '#lib/sluice-stack.ts';

/**
 * The error class a dead letter records is what operators filter and redrive by (`sluice redrive --error-class`, the
 * runbook, the console's grouping), so it must be the class's own name in any build, minified or not. The runtime's
 * modules are built here as the deployed bundles are (minified ES modules, no `keepNames`) and every error class they
 * export is checked in that build.
 */

/** Arguments every runtime error constructor accepts (a message or subject first, then numbers and options). */
const PLACEHOLDER_ARGUMENTS = ['subject', 1000, { retryable: false }] as const;

type ErrorClass = new (...args: unknown[]) => Error;

let outdir: string;
let modules: Record<string, Record<string, unknown>>;

beforeAll(async () => {
  mkdirSync(join(PROJECT_ROOT, '.sluice'), { recursive: true });
  // Inside the project, so the build's external packages resolve from its node_modules.
  outdir = mkdtempSync(join(PROJECT_ROOT, '.sluice', 'minified-errors-'));
  // The entry points read the environment at import; every other module of the runtime is checked.
  const files = globSync('functions/**/*.ts', { cwd: PROJECT_ROOT }).filter((file) => !file.endsWith('/index.ts'));
  const namespaces = files.map((file, index) => ({ file, alias: `module${index}` }));
  await build({
    stdin: {
      contents: namespaces.map(({ file, alias }) => `export * as ${alias} from './${file}';`).join('\n'),
      resolveDir: PROJECT_ROOT,
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    minify: true,
    packages: 'external',
    outfile: join(outdir, 'runtime.mjs'),
    logLevel: 'silent',
  });
  const built = (await import(pathToFileURL(join(outdir, 'runtime.mjs')).href)) as Record<
    string,
    Record<string, unknown>
  >;
  modules = Object.fromEntries(namespaces.map(({ file, alias }) => [file, built[alias] ?? {}]));
});

afterAll(() => {
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

/** Every exported error class of the minified runtime, with the name it is exported under (its source name). */
function exportedErrorClasses(): { module: string; exportName: string; errorClass: ErrorClass }[] {
  return Object.entries(modules).flatMap(([module, exports]) =>
    Object.entries(exports).flatMap(([exportName, value]) =>
      typeof value === 'function' && value.prototype instanceof Error
        ? [{ module, exportName, errorClass: value as ErrorClass }]
        : [],
    ),
  );
}

describe('Errors: the runtime error classes in a minified build', () => {
  it('finds the error classes of the runtime', () => {
    // Act
    const names = exportedErrorClasses().map(({ exportName }) => exportName);

    // Assess: a few that dead letters record, from more than one module
    expect(names).toEqual(
      expect.arrayContaining(['SluiceError', 'InvalidItemError', 'LlmCallError', 'InjectedCrash', 'StageControlError']),
    );
  });

  it('gives each error class its own name, as the error class a dead letter records', () => {
    // Prepare
    const errors = modules['functions/shared/errors.ts'];
    const describeError = errors?.describeError as (error: unknown) => { errorClass: string };

    // Act
    const recorded = exportedErrorClasses().map(({ module, exportName, errorClass }) => {
      const error = new errorClass(...PLACEHOLDER_ARGUMENTS);
      return { module, exportName, name: error.name, errorClass: describeError(error).errorClass };
    });

    // Assess
    expect(recorded).toEqual(
      recorded.map(({ module, exportName }) => ({ module, exportName, name: exportName, errorClass: exportName })),
    );
  });
});
