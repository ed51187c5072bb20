import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BundledFunction, BundledInvocationError, resolveHandler } from '#local/bundled-function.ts';
import { createLambdaContext } from '#local/lambda-context.ts';

/** A stand-in for a function bundle: reads its environment at import, as the stage bundles do. */
const BUNDLE = `
const roleAtInit = process.env.ROLE;
if (process.env.FAIL_INIT) throw new RangeError('FAIL_INIT is set');
export const handler = async (event, context) => {
  if (event.crash) return new Promise(() => setTimeout(() => { throw new Error('out of memory'); }));
  if (event.fail) {
    const error = new Error('no body');
    error.name = 'InvalidItemError';
    throw error;
  }
  return {
    roleAtInit,
    remainingMs: context.getRemainingTimeInMillis(),
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
  };
};
`;

const codeDir = mkdtempSync(join(tmpdir(), 'sluice-bundled-function-'));
writeFileSync(join(codeDir, 'index.mjs'), BUNDLE);
const started: BundledFunction[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((fn) => fn.stop()));
});
afterAll(() => rmSync(codeDir, { recursive: true, force: true }));

async function start(name: string, environment: Record<string, string>): Promise<BundledFunction> {
  const fn = await BundledFunction.start({
    codeDir,
    handler: 'index.handler',
    function: {
      functionName: name,
      functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
      memoryMb: 128,
    },
    environment,
  });
  started.push(fn);
  return fn;
}

/** A context whose clock stands still, so the time left at the invocation is exactly `remainingMs`. */
function contextOf(name: string, remainingMs: number) {
  return createLambdaContext({
    functionName: name,
    functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
    memoryMb: 128,
    deadline: remainingMs,
    clock: () => 0,
    awsRequestId: `request-of-${name}`,
  });
}

describe('Class: BundledFunction', () => {
  describe('Method: invoke', () => {
    it('runs each function with the process environment it was given at import', async () => {
      // Prepare
      const extract = await start('Extract', { ROLE: 'extract' });
      const draft = await start('Draft', { ROLE: 'draft' });

      // Act
      const [fromExtract, fromDraft] = await Promise.all([
        extract.invoke({}, contextOf('Extract', 600_000)),
        draft.invoke({}, contextOf('Draft', 600_000)),
      ]);

      // Assess
      expect(fromExtract).toMatchObject({ roleAtInit: 'extract', functionName: 'Extract' });
      expect(fromDraft).toMatchObject({ roleAtInit: 'draft', functionName: 'Draft' });
      expect(process.env.ROLE).toBeUndefined();
    });

    it('hands the function a context counting down from the time left at the invocation', async () => {
      // Prepare
      const fn = await start('Extract', {});

      // Act
      const response = (await fn.invoke({}, contextOf('Extract', 600_000))) as Record<string, unknown>;

      // Assess
      expect(response.awsRequestId).toBe('request-of-Extract');
      expect(response.remainingMs).toBeGreaterThan(0);
      expect(response.remainingMs).toBeLessThanOrEqual(600_000);
    });

    it('rejects with the thrown error type when the handler throws', async () => {
      // Prepare
      const fn = await start('Extract', {});

      // Act
      const outcome = fn.invoke({ fail: true }, contextOf('Extract', 600_000));

      // Assess
      await expect(outcome).rejects.toBeInstanceOf(BundledInvocationError);
      await expect(outcome).rejects.toMatchObject({ errorType: 'InvalidItemError', message: /no body/ });
    });

    it('fails the invocations of a crashed environment and serves the next from a new one', async () => {
      // Prepare
      const fn = await start('Extract', { ROLE: 'extract' });

      // Act
      const crashed = fn.invoke({ crash: true }, contextOf('Extract', 600_000));
      await expect(crashed).rejects.toThrow('Extract: the execution environment crashed: out of memory');
      const next = await fn.invoke({}, contextOf('Extract', 600_000));

      // Assess
      expect(next).toMatchObject({ roleAtInit: 'extract' });
    });
  });

  describe('Method: start', () => {
    it('fails, naming the error, when the bundle throws at import', async () => {
      // Act
      const starting = start('Extract', { FAIL_INIT: 'yes' });

      // Assess
      await expect(starting).rejects.toThrow('Extract: init failed: RangeError: FAIL_INIT is set');
    });
  });
});

describe('Function: resolveHandler', () => {
  it('finds the module of a handler string as the Node.js runtime does', () => {
    // Act & Assess
    expect(resolveHandler(codeDir, 'index.handler')).toEqual({
      file: join(codeDir, 'index.mjs'),
      exportPath: ['handler'],
    });
    expect(() => resolveHandler(codeDir, 'main.handler')).toThrow(/Runtime\.ImportModuleError/);
    expect(() => resolveHandler(codeDir, 'index')).toThrow(/Runtime\.MalformedHandlerName/);
  });
});
