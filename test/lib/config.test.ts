import { describe, expect, it } from 'vitest';
import { supervisorRuntimeConfigSchema } from '#functions/supervisor/runtime-config.ts';
import { ConfigError, loadConfig } from '#lib/config.ts';
import { loadLayeredConfig, settingAssignment } from '#lib/config-layers.ts';
import { runtimeConfigFor, supervisorConfigFor } from '#lib/runtime-configs.ts';
import { cdkJsonContext, synthesizeTemplate } from '#lib/template.ts';
import { RANGES, type Range } from '#shared/config-ranges.ts';
import { runtimeConfigSchema } from '#shared/runtime-config.ts';

function problemsOf(raw: unknown): string {
  try {
    loadConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected loadConfig to reject the config');
}

describe('Function: loadConfig', () => {
  it('fills every setting with its default from an empty object', () => {
    // Act
    const config = loadConfig({});

    // Assess
    expect(config.stages.extract).toEqual({
      model: 'gpt-4o-mini',
      reservedConcurrency: 5,
      maxConcurrency: 5,
      batchSize: 1,
      timeoutSeconds: 120,
      memoryMb: 512,
      maxOutputTokens: 2048,
      steps: { knowledge: {} },
    });
    expect(config.stages.draft?.timeoutSeconds).toBe(300);
    expect(config.stages.draft?.maxRevisions).toBe(2);
    expect(config.llm).toEqual({ timeoutSeconds: 60, learnMaxTokens: true });
    expect(config.prices['gpt-4o-mini']).toEqual({ inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 });
    expect(config.prices['gpt-4.1-mini']).toEqual({ inputPerMillionUsd: 0.4, outputPerMillionUsd: 1.6 });
    expect(config).toMatchObject({
      reservedConcurrencyEnabled: true,
      maxReceiveCount: 5,
      maxAttempts: 3,
      itemTokenBudget: 30_000,
      dailyBudgetUsd: 25,
      retentionDays: 90,
      memory: { lookupTimeoutMs: 1500, maxRelated: 5 },
      useDependencyLayer: false,
      logLevel: 'INFO',
      logRetentionDays: 30,
    });
    expect(config.apiKeySecretArn).toBeUndefined();
  });

  it('treats a missing sluice context as all defaults', () => {
    // Act & Assess
    expect(loadConfig(undefined)).toEqual(loadConfig({}));
  });

  it('reads the cdk.json context, which writes out exactly the defaults', () => {
    // Prepare
    const fromCdkJson = cdkJsonContext().sluice;

    // Act & Assess
    expect(fromCdkJson).toBeTypeOf('object');
    expect(loadConfig(fromCdkJson)).toEqual(loadConfig({}));
  });

  it('keeps the default prices when more models are priced', () => {
    // Act
    const config = loadConfig({
      prices: { 'local-model': { inputPerMillionUsd: 0, outputPerMillionUsd: 0 } },
      stages: { extract: { model: 'local-model' } },
    });

    // Assess
    expect(Object.keys(config.prices).sort()).toEqual(['gpt-4.1-mini', 'gpt-4o-mini', 'local-model']);
  });

  it.each<[string, unknown, string]>([
    [
      'maximum concurrency below 2',
      { stages: { extract: { maxConcurrency: 1 } } },
      'stages.extract.maxConcurrency must be between 2 and 1000 (got 1)',
    ],
    [
      'reserved concurrency above 1000',
      { stages: { draft: { reservedConcurrency: 1001 } } },
      'stages.draft.reservedConcurrency must be between 2 and 1000 (got 1001)',
    ],
    ['a batch of 11', { stages: { extract: { batchSize: 11 } } }, 'stages.extract.batchSize must be between 1 and 10'],
    [
      'a fractional batch size',
      { stages: { extract: { batchSize: 1.5 } } },
      'stages.extract.batchSize must be a whole number between 1 and 10 (got 1.5)',
    ],
    [
      'a timeout of 2 s',
      { stages: { draft: { timeoutSeconds: 2 } } },
      'stages.draft.timeoutSeconds must be between 6 and 900 (got 2)',
    ],
    [
      'a timeout given as a string',
      { stages: { draft: { timeoutSeconds: '300' } } },
      'stages.draft.timeoutSeconds must be a whole number between 6 and 900 (got "300")',
    ],
    [
      '100 MB of memory',
      { stages: { extract: { memoryMb: 100 } } },
      'stages.extract.memoryMb must be between 128 and 10240',
    ],
    [
      'eleven revisions',
      { stages: { draft: { maxRevisions: 11 } } },
      'stages.draft.maxRevisions must be between 0 and 10',
    ],
    ['maxReceiveCount below 5', { maxReceiveCount: 4 }, 'maxReceiveCount must be between 5 and 1000 (got 4)'],
    ['a negative daily budget', { dailyBudgetUsd: -1 }, 'dailyBudgetUsd must be between 0 and 1000000 (got -1)'],
    ['learned max_tokens as a word', { llm: { learnMaxTokens: 'yes' } }, 'llm.learnMaxTokens must be true or false'],
    [
      'a retention shorter than a dead letter may wait in its DLQ',
      { retentionDays: 14 },
      'retentionDays must be between 30 and 3650 (got 14)',
    ],
    ['a retention CloudWatch refuses', { logRetentionDays: 2 }, 'logRetentionDays must be one of 1, 3, 5, 7, 14, 30'],
    ['an unknown log level', { logLevel: 'TRACE' }, 'logLevel must be one of DEBUG, INFO, WARN, ERROR (got "TRACE")'],
    ['a base URL that is not http(s)', { llm: { baseUrl: 'ftp://llm.example' } }, 'llm.baseUrl must be an http(s) URL'],
    [
      'a secret ARN without its suffix',
      { apiKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:llm-key' },
      'apiKeySecretArn must be the complete ARN of a Secrets Manager secret',
    ],
    [
      'a misspelt key',
      { stages: { extract: { maxConcurency: 2 } } },
      'stages.extract has unknown key(s) "maxConcurency"',
    ],
    ['a config that is not an object', 'fast', 'the sluice context must be an object (got "fast")'],
  ])('rejects %s, naming the key and the allowed values', (_case, raw, expected) => {
    // Act
    const message = problemsOf(raw);

    // Assess
    expect(message).toContain('Invalid sluice config: ');
    expect(message).toContain(expected);
  });

  it('rejects a maximum concurrency above the reserved concurrency while reservation is on', () => {
    // Prepare
    const stages = { extract: { reservedConcurrency: 4, maxConcurrency: 8 } };

    // Act
    const message = problemsOf({ stages });

    // Assess
    expect(message).toContain(
      'stages.extract.maxConcurrency must be at most stages.extract.reservedConcurrency (4) while reservedConcurrencyEnabled is true (got 8)',
    );
    expect(loadConfig({ stages, reservedConcurrencyEnabled: false }).stages.extract?.maxConcurrency).toBe(8);
  });

  it('rejects a model, stage or fallback, that has no price', () => {
    // Act
    const message = problemsOf({ stages: { draft: { model: 'gpt-5' } }, llm: { fallbackModel: 'other' } });

    // Assess
    expect(message).toContain('prices must have an entry for model "gpt-5" (used by stages.draft.model)');
    expect(message).toContain('prices must have an entry for model "other" (used by llm.fallbackModel)');
  });

  it('rejects a failure budget the SQS redrive would cut short', () => {
    // Act
    const message = problemsOf({ maxAttempts: 5, maxReceiveCount: 5 });

    // Assess
    expect(message).toContain('maxAttempts must be less than maxReceiveCount (5) (got 5)');
  });

  it('reports every problem at once', () => {
    // Act
    let caught: unknown;
    try {
      loadConfig({ maxReceiveCount: 1, logLevel: 'LOUD' });
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems).toHaveLength(2);
  });

  it('fails the synth of a wrong config with the same message', () => {
    // Act & Assess
    expect(() => synthesizeTemplate({ sluice: { stages: { extract: { maxConcurrency: 1 } } } })).toThrow(
      'Invalid sluice config: stages.extract.maxConcurrency must be between 2 and 1000 (got 1)',
    );
  });
});

describe('Function: runtimeConfigFor', () => {
  it('derives a runtime config the functions accept, per stage', () => {
    // Prepare
    const config = loadConfig({
      llm: { baseUrl: 'http://127.0.0.1:8080/v1', timeoutSeconds: 45, fallbackModel: 'gpt-4o-mini' },
      stages: { draft: { maxRevisions: 4, maxOutputTokens: 3000 } },
    });

    // Act
    const extract = runtimeConfigSchema.parse(runtimeConfigFor(config, 'extract'));
    const draft = runtimeConfigSchema.parse(runtimeConfigFor(config, 'draft'));

    // Assess
    expect(extract).toMatchObject({ stage: 'extract', model: 'gpt-4o-mini', maxRevisions: 0 });
    expect(draft).toMatchObject({
      stage: 'draft',
      model: 'gpt-4.1-mini',
      fallbackModel: 'gpt-4o-mini',
      maxOutputTokens: 3000,
      maxRevisions: 4,
      llm: { baseUrl: 'http://127.0.0.1:8080/v1', timeoutMs: 45_000 },
      itemTokenBudget: 30_000,
      dailyBudgetUsd: 25,
      retentionSeconds: 90 * 86_400,
      maxAttempts: 3,
      memory: { lookupTimeoutMs: 1500, maxRelated: 5 },
    });
    expect(draft.prices).toEqual(config.prices);
  });

  it('gives the draft and review steps their own model and output limit, the stage its own for the rest', () => {
    // Prepare: a cheaper reviewer is one setting
    const config = loadConfig({
      stages: { draft: { steps: { review: { model: 'gpt-4o-mini', maxOutputTokens: 1024 } } } },
    });

    // Act
    const draft = runtimeConfigSchema.parse(runtimeConfigFor(config, 'draft'));

    // Assess
    expect(draft.steps).toEqual({
      draft: { model: 'gpt-4.1-mini', maxOutputTokens: 4096 },
      review: { model: 'gpt-4o-mini', maxOutputTokens: 1024 },
    });
  });

  it('refuses a step the stage does not have and a step model without a price, naming the key', () => {
    // Act & Assess
    expect(() => loadConfig({ stages: { draft: { steps: { critic: { model: 'gpt-4o-mini' } } } } })).toThrow(
      /stages\.draft\.steps.*critic/,
    );
    expect(() => loadConfig({ stages: { draft: { steps: { review: { model: 'no-such-model' } } } } })).toThrow(
      /stages\.draft\.steps\.review\.model/,
    );
  });

  it('leaves out the optional settings that are not configured', () => {
    // Act
    const runtime = runtimeConfigFor(loadConfig({}), 'extract');

    // Assess
    expect(runtime).not.toHaveProperty('fallbackModel');
    expect(runtime.llm).toEqual({ timeoutMs: 60_000, learnMaxTokens: true });
  });
});

describe('Function: loadLayeredConfig', () => {
  const cdkJson = { source: 'cdk.json', settings: cdkJsonContext().sluice as Record<string, unknown> };
  const rejection = (layers: Parameters<typeof loadLayeredConfig>[0]): string => {
    try {
      loadLayeredConfig(layers);
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error('expected loadLayeredConfig to reject the layers');
  };

  it('merges each layer over the ones before, key by key, and fills the rest with the defaults', () => {
    // Act
    const config = loadLayeredConfig([
      cdkJson,
      { source: '--config local.json', settings: { stages: { draft: { batchSize: 2 } }, dailyBudgetUsd: 5 } },
      { source: '--set dailyBudgetUsd=7', settings: { dailyBudgetUsd: 7 } },
    ]);

    // Assess: the later layer wins, the rest of each object is kept
    expect(config.dailyBudgetUsd).toBe(7);
    expect(config.stages.draft).toMatchObject({ batchSize: 2, model: 'gpt-4.1-mini', maxRevisions: 2 });
    expect(config.stages.extract?.batchSize).toBe(1);
  });

  it('validates the merge, so a later layer may complete an earlier one', () => {
    // Act
    const config = loadLayeredConfig([
      cdkJson,
      { source: '--config fast.json', settings: { stages: { extract: { maxConcurrency: 8 } } } },
      {
        source: '--set stages.extract.reservedConcurrency=8',
        settings: { stages: { extract: { reservedConcurrency: 8 } } },
      },
    ]);

    // Assess
    expect(config.stages.extract).toMatchObject({ maxConcurrency: 8, reservedConcurrency: 8 });
  });

  it('names the key, the problem and the layer that set it', () => {
    // Act
    const message = rejection([
      cdkJson,
      { source: '--config local.json', settings: { stages: { extract: { batchSize: 0 } } } },
      { source: '--set maxAttempts="three"', settings: { maxAttempts: 'three' } },
    ]);

    // Assess
    expect(message).toContain('stages.extract.batchSize must be between 1 and 10 (got 0) (set by --config local.json)');
    expect(message).toContain(
      'maxAttempts must be a whole number between 1 and 100 (got "three") (set by --set maxAttempts="three")',
    );
    expect(message).not.toContain('\n');
  });

  it('names the layer of a misspelt key, and of a cross-key problem the layer of the key it reports', () => {
    // Act
    const misspelt = rejection([
      cdkJson,
      { source: '--set stages.extract.batchsize=2', settings: { stages: { extract: { batchsize: 2 } } } },
    ]);
    const crossKey = rejection([
      cdkJson,
      { source: '--config wide.json', settings: { stages: { extract: { maxConcurrency: 8 } } } },
    ]);

    // Assess
    expect(misspelt).toBe(
      'Invalid sluice config: stages.extract has unknown key(s) "batchsize" (set by --set stages.extract.batchsize=2)',
    );
    expect(crossKey).toMatch(
      /stages\.extract\.maxConcurrency must be at most .*\(got 8\) \(set by --config wide\.json\)$/,
    );
  });

  it('blames cdk.json for a wrong value no later layer touched', () => {
    // Act
    const message = rejection([
      { source: 'cdk.json', settings: { llm: { timeoutSeconds: 0 } } },
      { source: '--set dailyBudgetUsd=3', settings: { dailyBudgetUsd: 3 } },
    ]);

    // Assess
    expect(message).toBe(
      'Invalid sluice config: llm.timeoutSeconds must be between 1 and 900 (got 0) (set by cdk.json)',
    );
  });
});

describe('Function: settingAssignment', () => {
  it('reads the value as JSON when it parses, as a string otherwise', () => {
    // Act & Assess
    expect(settingAssignment('stages.extract.batchSize=2')).toEqual({ stages: { extract: { batchSize: 2 } } });
    expect(settingAssignment('supervisor.enabled=false')).toEqual({ supervisor: { enabled: false } });
    expect(settingAssignment('llm.baseUrl=http://127.0.0.1:8080/v1')).toEqual({
      llm: { baseUrl: 'http://127.0.0.1:8080/v1' },
    });
    expect(settingAssignment('logLevel="DEBUG"')).toEqual({ logLevel: 'DEBUG' });
    expect(settingAssignment('llm.fallbackModel=gpt-4o-mini')).toEqual({ llm: { fallbackModel: 'gpt-4o-mini' } });
    expect(settingAssignment('prices={"gpt-4.1-mini":{"inputPerMillionUsd":1,"outputPerMillionUsd":2}}')).toEqual({
      prices: { 'gpt-4.1-mini': { inputPerMillionUsd: 1, outputPerMillionUsd: 2 } },
    });
    expect(settingAssignment('llm.fallbackModel=a=b')).toEqual({ llm: { fallbackModel: 'a=b' } });
  });

  it('refuses text that is not key.path=value, quoting it', () => {
    // Act & Assess
    for (const text of ['dailyBudgetUsd', '=3', 'stages..batchSize=2', 'stages.extract.=2', 'prices.gpt 4=1']) {
      expect(() => settingAssignment(text)).toThrow(ConfigError);
      expect(() => settingAssignment(text)).toThrow(`--set ${JSON.stringify(text)} must be key.path=value`);
    }
  });

  it('gives a patch the validation reads like any other layer', () => {
    // Act
    const message = (() => {
      try {
        loadLayeredConfig([
          { source: '--set dailyBudgetUsd=lots', settings: settingAssignment('dailyBudgetUsd=lots') },
        ]);
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    })();

    // Assess
    expect(message).toBe(
      'Invalid sluice config: dailyBudgetUsd must be a number between 0 and 1000000 (got "lots") (set by --set dailyBudgetUsd=lots)',
    );
  });
});

describe('Ranges: one bound for cdk.json and the functions', () => {
  const edges = (pick: (range: Range) => number) => ({
    maxAttempts: pick(RANGES.maxAttempts),
    itemTokenBudget: pick(RANGES.itemTokenBudget),
    dailyBudgetUsd: pick(RANGES.dailyBudgetUsd),
    llm: { timeoutSeconds: pick(RANGES.llm.timeoutSeconds) },
    memory: { lookupTimeoutMs: pick(RANGES.memory.lookupTimeoutMs), maxRelated: pick(RANGES.memory.maxRelated) },
    limits: { 'gpt-4o-mini': { rpm: pick(RANGES.limits.rpm), tpm: pick(RANGES.limits.tpm) } },
    retry: {
      baseDelayMs: pick(RANGES.retry.baseDelayMs),
      maxDelayMs: pick(RANGES.retry.maxDelayMs),
      maxInProcessWaitMs: pick(RANGES.retry.maxInProcessWaitMs),
      maxDeferralHours: pick(RANGES.retry.maxDeferralHours),
    },
    breaker: {
      windowSeconds: pick(RANGES.breaker.windowSeconds),
      minCalls: pick(RANGES.breaker.minCalls),
      failureRatePercent: pick(RANGES.breaker.failureRatePercent),
      cooldownSeconds: pick(RANGES.breaker.cooldownSeconds),
    },
    supervisor: {
      intervalSeconds: pick(RANGES.supervisor.intervalSeconds),
      pauseAfterSeconds: pick(RANGES.supervisor.pauseAfterSeconds),
      verifySeconds: pick(RANGES.supervisor.verifySeconds),
      reenrich: {
        maxPerRun: pick(RANGES.supervisor.reenrich.maxPerRun),
        perSecond: pick(RANGES.supervisor.reenrich.perSecond),
        maxPerItem: pick(RANGES.supervisor.reenrich.maxPerItem),
      },
    },
  });

  it.each([
    ['lowest', (range: Range) => range.min],
    ['highest', (range: Range) => range.max],
  ])('derives runtime configs the functions accept from every %s value cdk.json accepts', (_, pick) => {
    // Prepare: a queue that redelivers often enough for the most attempts
    const config = loadConfig({ ...edges(pick), maxReceiveCount: 1000 });

    // Act & Assess: the functions' schemas take what the stack's schema took
    expect(() => runtimeConfigSchema.parse(runtimeConfigFor(config, 'extract'))).not.toThrow();
    expect(() => runtimeConfigSchema.parse(runtimeConfigFor(config, 'draft'))).not.toThrow();
    expect(() => supervisorRuntimeConfigSchema.parse(supervisorConfigFor(config))).not.toThrow();
  });

  it('makes the functions refuse a value just past the bound cdk.json refuses', () => {
    // Prepare
    const runtime = runtimeConfigFor(loadConfig({}), 'extract');
    const below = {
      ...runtime,
      retry: { ...runtime.retry, maxDeferralMs: RANGES.retry.maxDeferralHours.min * 3_600_000 - 1 },
    };

    // Act & Assess
    expect(problemsOf({ retry: { maxDeferralHours: RANGES.retry.maxDeferralHours.min - 1 } })).toMatch(
      /retry\.maxDeferralHours/,
    );
    expect(runtimeConfigSchema.safeParse(below).success).toBe(false);
  });
});
