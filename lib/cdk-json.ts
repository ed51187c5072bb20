import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as z from 'zod';

/**
 * Where the project is and what its `cdk.json` holds, without the CDK: the stack, the in-process synth and the
 * operator commands (the budget and limits `sluice status` reports against) read the same file.
 */

/** Folder holding package.json, package-lock.json, node_modules and functions/. */
export const PROJECT_ROOT = resolve(import.meta.dirname, '..');

const cdkJsonSchema = z.object({ context: z.record(z.string(), z.unknown()).optional() });

/**
 * The context of `cdk.json` (feature flags and the `sluice` config), so an in-process synth matches `cdk synth`.
 * @example
 * const sluice = cdkJsonContext().sluice;
 */
export function cdkJsonContext(): Record<string, unknown> {
  const file = join(PROJECT_ROOT, 'cdk.json');
  return cdkJsonSchema.parse(JSON.parse(readFileSync(file, 'utf8'))).context ?? {};
}
