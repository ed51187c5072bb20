import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { PROJECT_ROOT } from '#lib/sluice-stack.ts';
import {
  copyDependencyClosure,
  DEPENDENCY_LAYER_PACKAGES,
  DependencyLayerError,
  dependencyClosure,
} from '../../layers/dependency-layer.ts';

interface FakePackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional: boolean }>;
}

/** Writes `<root>/node_modules/<path>/package.json` (+ an index.js and a declaration file) for each entry. */
function fakeProject(packages: Record<string, FakePackage>): string {
  const root = mkdtempSync(join(tmpdir(), 'sluice-layer-test-'));
  for (const [path, manifest] of Object.entries(packages)) {
    const dir = join(root, 'node_modules', path);
    mkdirSync(dir, { recursive: true });
    const name = path.split('/node_modules/').at(-1);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }));
    writeFileSync(join(dir, 'index.js'), `module.exports = ${JSON.stringify(path)};\n`);
    writeFileSync(join(dir, 'index.d.ts'), 'export {};\n');
    writeFileSync(join(dir, 'index.js.map'), '{}');
  }
  return root;
}

describe('Function: dependencyClosure', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  it('follows dependencies, nested copies, installed optionals and required peers, and skips the AWS SDK', () => {
    // Prepare
    const root = fakeProject({
      app: {
        dependencies: { shared: '^1', '@aws-sdk/client-sqs': '^3', '@types/node': '*' },
        optionalDependencies: { 'not-installed': '^1' },
        peerDependencies: { peer: '^1', 'optional-peer': '^1' },
        peerDependenciesMeta: { 'optional-peer': { optional: true } },
      },
      'app/node_modules/shared': { dependencies: { leaf: '^1' } },
      shared: {},
      leaf: {},
      peer: {},
      'optional-peer': {},
      '@aws-sdk/client-sqs': {},
      '@types/node': {},
      unrelated: {},
    });
    roots.push(root);

    // Act
    const closure = dependencyClosure(root, ['app']);

    // Assess
    expect(closure).toEqual(['app', 'app/node_modules/shared', 'leaf', 'peer']);
  });

  it('names a required package that is not installed', () => {
    // Prepare
    const root = fakeProject({ app: { dependencies: { missing: '^1' } } });
    roots.push(root);

    // Act & Assess
    expect(() => dependencyClosure(root, ['app'])).toThrow(DependencyLayerError);
    expect(() => dependencyClosure(root, ['app'])).toThrow('missing (needed by app) is not installed');
  });

  it('copies the closure in its installed layout, without declarations or source maps', () => {
    // Prepare
    const root = fakeProject({ app: { dependencies: { shared: '^1' } }, 'app/node_modules/shared': {}, other: {} });
    roots.push(root);
    const target = join(root, 'out', 'nodejs', 'node_modules');

    // Act
    copyDependencyClosure(root, ['app'], target);

    // Assess
    expect(existsSync(join(target, 'app', 'index.js'))).toBe(true);
    expect(existsSync(join(target, 'app', 'node_modules', 'shared', 'package.json'))).toBe(true);
    expect(existsSync(join(target, 'app', 'index.d.ts'))).toBe(false);
    expect(existsSync(join(target, 'app', 'index.js.map'))).toBe(false);
    expect(existsSync(join(target, 'other'))).toBe(false);
  });
});

describe('Constant: DEPENDENCY_LAYER_PACKAGES', () => {
  let layerRoot = '';
  beforeAll(() => {
    layerRoot = mkdtempSync(join(tmpdir(), 'sluice-layer-copy-'));
  });
  afterAll(() => {
    rmSync(layerRoot, { recursive: true, force: true });
  });

  it('lists every shared third-party runtime dependency of package.json', () => {
    // Prepare
    const manifest = z
      .object({ dependencies: z.record(z.string(), z.string()) })
      .parse(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')));

    // Act
    const shared = Object.keys(manifest.dependencies).filter(
      (name) => ['openai', 'zod', '@middy/core'].includes(name) || name.startsWith('@aws-lambda-powertools/'),
    );

    // Assess
    expect([...DEPENDENCY_LAYER_PACKAGES].sort()).toEqual(shared.sort());
  });

  it('copies into a layer folder from which every package loads', () => {
    // Prepare
    const nodeModules = join(layerRoot, 'nodejs', 'node_modules');
    const probe = join(layerRoot, 'nodejs', 'probe.mjs');
    mkdirSync(dirname(probe), { recursive: true });
    writeFileSync(
      probe,
      `for (const name of ${JSON.stringify(DEPENDENCY_LAYER_PACKAGES)}) {
        const url = import.meta.resolve(name);
        if (!url.startsWith(${JSON.stringify(pathToFileURL(nodeModules).href)})) throw new Error(name + ' from ' + url);
        await import(name);
      }
      console.log('loaded');`,
    );

    // Act
    const copied = copyDependencyClosure(PROJECT_ROOT, DEPENDENCY_LAYER_PACKAGES, nodeModules);
    const output = execFileSync(process.execPath, [probe], { cwd: layerRoot, encoding: 'utf8' });

    // Assess
    expect(copied).toEqual(expect.arrayContaining([...DEPENDENCY_LAYER_PACKAGES]));
    expect(copied.filter((path) => path.startsWith('@aws-sdk/') || path.startsWith('@types/'))).toEqual([]);
    expect(output.trim()).toBe('loaded');
  });
});
