import { readFile } from 'node:fs/promises';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';

/**
 * What `npm install` brings, checked against the Node.js the project runs on: the `node` devDependency, since
 * npm checks `engines` against the Node.js that runs npm (and .npmrc leaves its warnings out).
 */

const manifestSchema = z.object({ devDependencies: z.record(z.string(), z.string()) });
const lockSchema = z.object({
  packages: z.record(
    z.string(),
    z.object({ version: z.string().optional(), engines: z.object({ node: z.string().optional() }).optional() }),
  ),
});

const readJson = async (path: string) => JSON.parse(await readFile(new URL(`../../${path}`, import.meta.url), 'utf8'));

describe('Project: the install', () => {
  it('runs the tests on the Node.js it brings as the `node` devDependency', async () => {
    // Act
    const manifest = manifestSchema.parse(await readJson('package.json'));

    // Assess
    expect(manifest.devDependencies.node).toMatch(/^\d+\.\d+\.\d+$/);
    expect(process.versions.node).toBe(manifest.devDependencies.node);
  });

  it('locks only packages whose `engines` accept that Node.js', async () => {
    // Prepare
    const manifest = manifestSchema.parse(await readJson('package.json'));
    const node = manifest.devDependencies.node ?? '';
    const lock = lockSchema.parse(await readJson('package-lock.json'));

    // Act
    const refused = Object.entries(lock.packages)
      .filter(([, entry]) => {
        const range = entry.engines?.node;
        return range !== undefined && !semver.satisfies(node, range, { includePrerelease: true });
      })
      .map(([path, entry]) => `${path}@${entry.version} needs node ${entry.engines?.node}`);

    // Assess
    expect(Object.keys(lock.packages).length).toBeGreaterThan(100);
    expect(refused).toEqual([]);
  });
});
