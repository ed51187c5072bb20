import * as z from 'zod';
import { type Finding, type Outcome, ok, problems, skipped, type Watch } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { endpointOf, redeployFix } from '#cli/doctor/findings.ts';
import { parseJson } from '#cli/doctor/parse.ts';
import { functionFindings } from '#cli/doctor/stage-functions.ts';
import { errorText, type Target } from '#ops/target.ts';
import { LlmCallError } from '#shared/errors.ts';
import { OpenAiLlmClient } from '#shared/llm-client.ts';

const stageRuntimeConfigSchema = z.looseObject({
  model: z.string().min(1),
  fallbackModel: z.string().min(1).optional(),
  llm: z.looseObject({ baseUrl: z.string().optional(), timeoutMs: z.number().int().positive() }),
});

/** The provider the openai SDK calls when no base URL is configured. */
const DEFAULT_PROVIDER_URL = 'https://api.openai.com/v1';

/**
 * One tiny call (1 completion token) per stage model with the API key, from this machine.
 * @example const outcome = await providerCheck(context, watch);
 */
export async function providerCheck(context: DoctorContext, watch: Watch): Promise<Outcome> {
  const { target, options } = context;
  const [secret, functions] = await Promise.all([
    watch(endpointOf(target, 'secretsmanager'), () => context.apiKeySecret()),
    watch(endpointOf(target, 'lambda'), () => context.stageFunctions()),
  ]);
  if (!('key' in secret)) return skipped('no call made without the API key: see the secret check');
  const unread = functionFindings(target, functions);
  if (unread.length > 0) return problems(unread);

  const probes = new Map<string, { baseUrl: string | undefined; model: string; timeoutMs: number; uses: string[] }>();
  const found: Finding[] = [];
  for (const { stage, functionName, configuration } of functions) {
    const config = stageRuntimeConfigSchema.safeParse(
      parseJson(configuration?.Environment?.Variables?.SLUICE_RUNTIME_CONFIG),
    );
    if (!config.success) {
      found.push({
        problem: `the ${stage} function ${functionName} has no valid SLUICE_RUNTIME_CONFIG in its environment`,
        fix: redeployFix(target),
      });
      continue;
    }
    const { model, fallbackModel, llm } = config.data;
    for (const [use, name] of [
      [`stages.${stage}.model`, model],
      ['llm.fallbackModel', fallbackModel],
    ] as const) {
      if (name === undefined) continue;
      const key = `${llm.baseUrl ?? ''} ${name}`;
      const probe = probes.get(key) ?? { baseUrl: llm.baseUrl, model: name, timeoutMs: llm.timeoutMs, uses: [] };
      if (!probe.uses.includes(use)) probe.uses.push(use);
      probes.set(key, probe);
    }
  }
  const answered: string[] = [];
  const notes: string[] = [];
  await Promise.all(
    [...probes.values()].map(async (probe) => {
      const url = probe.baseUrl ?? DEFAULT_PROVIDER_URL;
      const client = new OpenAiLlmClient({ apiKey: async () => secret.key, baseUrl: probe.baseUrl });
      try {
        const completion = await watch(url, (signal) =>
          client.probe({
            model: probe.model,
            timeoutMs: Math.min(probe.timeoutMs, options.timeoutMs),
            caller: 'doctor',
            signal,
          }),
        );
        answered.push(`${probe.model} (${probe.uses.join(', ')}) in ${completion.latencyMs} ms`);
      } catch (error) {
        if (error instanceof LlmCallError && error.status === 429) {
          answered.push(`${probe.model} (${probe.uses.join(', ')}) rate-limited`);
          notes.push(
            `${url} answered 429 for ${probe.model}: the key and the model are accepted, the limit is reached now`,
          );
          return;
        }
        found.push(providerFinding(target, error, probe.model, probe.uses, url, secret.arn));
      }
    }),
  );
  if (found.length > 0) return { status: 'problem', problems: found, ...(notes.length > 0 && { notes }) };
  const where = [...new Set([...probes.values()].map((probe) => probe.baseUrl ?? DEFAULT_PROVIDER_URL))].join(', ');
  return ok(`${where} answered ${answered.sort().join('; ')}`, notes.length > 0 ? notes : undefined);
}

/** Why the provider refused or failed the probe, by its HTTP status, and what to change. */
function providerFinding(
  target: Target,
  error: unknown,
  model: string,
  uses: readonly string[],
  url: string,
  secretArn: string,
): Finding {
  const local = target.kind === 'local';
  const status = error instanceof LlmCallError ? error.status : undefined;
  const message = errorText(error);
  const redeploy = local ? "restart 'sluice dev'" : 'deploy again (npx cdk deploy)';
  const cli = local
    ? `aws --endpoint-url ${endpointOf(target, 'secretsmanager')} secretsmanager`
    : 'aws secretsmanager';
  if (status === 401 || status === 403) {
    return {
      problem: `${url} refused the API key from secret ${secretArn} (${status}) for ${model}`,
      fix: `put a valid key in the secret: ${cli} put-secret-value --secret-id ${secretArn} --secret-string 'KEY'`,
    };
  }
  if (status === 404) {
    return {
      problem: `${url} does not know the model '${model}' (${uses.join(', ')}): 404`,
      fix: `set ${uses.join(' and ')} in cdk.json to a model the provider serves (with its price), then ${redeploy}`,
    };
  }
  if (status === undefined || status === 408) {
    return {
      problem: `cannot reach the provider at ${url} for ${model}: ${message}`,
      fix: `check llm.baseUrl in cdk.json (${url}), and that the provider answers from here; then ${redeploy}`,
    };
  }
  if (status >= 500) {
    return {
      problem: `${url} is failing (${status}) for ${model}: ${message}`,
      fix: "the provider is having an outage: check its status page; 'sluice pause' holds the stages meanwhile",
    };
  }
  return {
    problem: `${url} refused the probe for ${model} (${status}): ${message}`,
    fix: `check that llm.baseUrl (${url}) serves an OpenAI-compatible chat completions API`,
  };
}
