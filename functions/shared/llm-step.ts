import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type * as z from 'zod';
import type { BudgetReservation } from './budget.ts';
import { type CallEntry, costNanoUsd, nanoToUsd, sumUsage } from './call-ledger.ts';
import type { BreakerPermit, CircuitBreaker } from './circuit-breaker.ts';
import {
  BreakerOpenError,
  BudgetExhaustedError,
  DeadlineError,
  InvalidOutputError,
  ItemBudgetExceededError,
  LlmCallError,
  RateLimitedError,
  SecretUnavailableError,
} from './errors.ts';
import type { ItemSession } from './item-claim.ts';
import { type Completion, estimatePromptTokens } from './llm-client.ts';
import type { Reservation } from './rate-limiter.ts';
import { type RuntimeConfig, type Stage, stepSettings } from './runtime-config.ts';
import type { StageRuntime } from './stage-runtime.ts';
import { traced } from './telemetry.ts';

/**
 * One LLM step of an item, paid for at most once. A stored valid response is reused. Otherwise it asks for the
 * step's learned completion size (completion-sizes.ts), or the configured maximum; and in order:
 * the model's circuit breaker (or the fallback model's), the shared rate limiter, the daily budget (worst case
 * reserved), an intent mark on the item, the call; then the response goes to the ledger before anything else,
 * the day's totals, and only then the budget, limiter and breaker are settled and the output validated.
 */

/** The invocation's clock: how long until the function is stopped, and the signal that fires just before. */
export interface Invocation {
  remainingMs(): number;
  signal?: AbortSignal | undefined;
  /** This invocation's lease owner id for the record. */
  owner?: string;
  leaseUntil?: number;
}

/** Time kept back after a call for the checkpoint and queue writes that must follow it. */
export const CHECKPOINT_MARGIN_MS = 3000;
/** A call given less time than this would likely be paid for and then cut off. */
export const MIN_CALL_MS = 2000;

export interface LlmStep<T> {
  stage: Stage;
  /** Which of the stage's steps this is (`knowledge`, `draft`, `review`): it picks the model and the output limit. */
  step: string;
  /** Step name, unique within the item and stage: `knowledge`, `draft.0`, `review.1`, ... */
  name: string;
  messages: ChatCompletionMessageParam[];
  format: { name: string; schema: z.ZodType<T> };
  /** Facts to keep with the call in the ledger (e.g. which memory items the prompt included). */
  context?: Record<string, unknown>;
}

export interface StepResult<T> {
  value: T;
  call: CallEntry;
  /** False when the response came from the ledger (no new cost). */
  paid: boolean;
}

/**
 * @param calls the item's ledger entries for this stage, kept current by this function.
 * @param tokensBefore tokens the item spent in earlier stages (counted against its token budget).
 * @example
 * const { value } = await runLlmStep(runtime, session, calls, 0, invocation, { stage: 'extract', step: 'knowledge', name: 'knowledge', messages, format });
 */
export async function runLlmStep<T>(
  runtime: StageRuntime,
  session: ItemSession,
  calls: CallEntry[],
  tokensBefore: number,
  invocation: Invocation,
  step: LlmStep<T>,
): Promise<StepResult<T>> {
  // Calls a crashed invocation wrote to the ledger but did not get to count in the day's totals.
  for (const call of calls) if (call.accounted === false) await account(runtime, call);
  const stored = calls.find((call) => call.step === step.name && call.outcome === 'ok');
  if (stored !== undefined) {
    const reused = step.format.schema.safeParse(parseJson(stored.content));
    if (reused.success) return { value: reused.data, call: stored, paid: false };
  }

  const { config } = runtime;
  const { maxOutputTokens: configuredMax, ...models } = modelsOf(config, step.step);
  // An answer of this step already cut at a learned size: this call asks for the maximum.
  const cutBefore = calls.some((call) => call.step === step.name && call.finishReason === 'length');
  const maxOutputTokens = cutBefore ? configuredMax : await runtime.outputTokens.limitFor(step.step, configuredMax);
  const itemId = session.item.itemId;
  const used = tokensBefore + tokensOf(calls);
  const promptEstimate = estimatePromptTokens(step.messages);
  const worstTokens = promptEstimate + maxOutputTokens;
  if (used + worstTokens > config.itemTokenBudget) {
    throw new ItemBudgetExceededError(
      `${step.name} could take ${worstTokens} tokens; the item has used ${used} of its ${config.itemTokenBudget}`,
    );
  }
  const remaining = invocation.remainingMs() - CHECKPOINT_MARGIN_MS;
  if (remaining < MIN_CALL_MS) {
    throw new DeadlineError(
      `only ${remaining + CHECKPOINT_MARGIN_MS} ms left: ${step.name} is left for the next delivery`,
    );
  }

  const owner = invocation.owner ?? `${itemId}#${step.name}`;
  const { model, breaker, permit } = await chooseModel(runtime, models, owner);
  let limit: Reservation | undefined;
  let spend: BudgetReservation | undefined;
  try {
    limit = await runtime.limiter
      .reserve(model, { promptTokens: promptEstimate, maxTokens: maxOutputTokens })
      .catch((error: unknown) => {
        if (error instanceof RateLimitedError) runtime.telemetry.call(model, { LimiterWaits: 1 });
        throw error;
      });
    const price = config.prices[model];
    spend = await runtime.budget.reserve(
      price ? costNanoUsd(price, worstTokens - maxOutputTokens, maxOutputTokens) : 0,
    );
  } catch (error) {
    // A refused budget reservation means calls have stopped for the day: that is what the 100 % alarm is for.
    if (error instanceof BudgetExhaustedError) runtime.telemetry.global({ BudgetUsedPercent: 100 });
    await release(runtime, breaker, permit, limit, spend);
    throw error;
  }

  // The intent mark: if this invocation dies before the ledger write, the next one knows the call may have been
  // paid for, and counts the repeat as re-billed instead of hiding it. It also proves we still hold the item.
  const n = calls.filter((call) => call.step === step.name).length;
  const callKey = `${step.stage}#${step.name}#${n}`;
  const rebilled = session.item.pendingCall === callKey;
  let completion: Completion;
  try {
    await session.update({ set: { pendingCall: callKey, leaseUntil: invocation.leaseUntil } });
    completion = await traced(runtime.telemetry.tracer, `LLM ${model}`, { itemId, step: step.name, model }, () =>
      runtime.llm.complete({
        itemId,
        step: step.name,
        model,
        messages: step.messages,
        format: step.format,
        maxTokens: maxOutputTokens,
        timeoutMs: Math.min(config.llm.timeoutMs, remaining),
        signal: invocation.signal,
      }),
    );
  } catch (error) {
    const raised = await failed(runtime, breaker, permit, limit, spend, model, error);
    // This call's outcome is known (it failed with no answer to pay for), so its own intent mark is resolved. A
    // mark a crashed invocation left (`rebilled`) stays through every wait and failure (a 429, a 5xx), so the
    // call that is finally answered is the one counted as the repeat.
    if (!rebilled && session.item.pendingCall === callKey) await session.update({ remove: ['pendingCall'] });
    throw raised;
  }
  runtime.faults?.crashPoint('after-llm-response', itemId);

  const parsed = step.format.schema.safeParse(parseJson(completion.content));
  const price = config.prices[completion.model] ?? config.prices[model];
  const entry: CallEntry = {
    itemId,
    stage: step.stage,
    step: step.name,
    stepKind: step.step,
    maxTokens: maxOutputTokens,
    n,
    model: completion.model,
    outcome: parsed.success ? 'ok' : 'invalid-output',
    content: completion.content,
    finishReason: completion.finishReason,
    promptTokens: completion.promptTokens,
    completionTokens: completion.completionTokens,
    costNanoUsd: price ? costNanoUsd(price, completion.promptTokens, completion.completionTokens) : 0,
    latencyMs: completion.latencyMs,
    requestId: completion.requestId,
    at: new Date(runtime.now()).toISOString(),
    ...(rebilled ? { rebilled: true } : {}),
    accounted: false,
    context: step.context,
  };
  // A concurrent writer can only have taken `n` if a lease was lost; keep our paid call under the next free n.
  while (!(await runtime.ledger.record(entry))) entry.n += 1;
  calls.push(entry);
  runtime.faults?.crashPoint('after-ledger-write', itemId);
  if (rebilled) runtime.logger.warn('LLM call repeated after a crash: re-billed', { itemId, step: step.name });
  await account(runtime, entry);
  await Promise.all([
    settle(runtime, breaker, permit, limit, spend, entry),
    completion.limits ? runtime.limiter.observe(model, completion.limits) : undefined,
  ]);

  if (!parsed.success && completion.finishReason === 'length' && maxOutputTokens < configuredMax) {
    // Cut at the learned size: asked again at once at the maximum (the ledger holds both paid calls).
    runtime.logger.info('answer cut at the learned max_tokens: asking again at the configured maximum', {
      itemId,
      step: step.name,
      maxTokens: maxOutputTokens,
      configuredMax,
    });
    return runLlmStep(runtime, session, calls, tokensBefore, invocation, step);
  }
  if (!parsed.success) {
    const why =
      completion.finishReason === 'length'
        ? `truncated at ${maxOutputTokens} tokens`
        : parsed.error.issues
            .slice(0, 3)
            .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
            .join('; ');
    throw new InvalidOutputError(`${step.name} output from ${completion.model} is not valid: ${why}`);
  }
  return { value: parsed.data, call: entry, paid: true };
}

/**
 * Counts a ledgered call in the day's totals and metrics, exactly once: the ledger entry is written with
 * `accounted: false`, and whoever flips it to true (this invocation, or the replay after a crash) adds it.
 */
async function account(runtime: StageRuntime, entry: CallEntry): Promise<void> {
  if (!(await runtime.ledger.markAccounted(entry))) {
    entry.accounted = true;
    return;
  }
  entry.accounted = true;
  runtime.telemetry.call(entry.model, {
    LlmCalls: 1,
    LlmLatency: entry.latencyMs,
    PromptTokens: entry.promptTokens,
    CompletionTokens: entry.completionTokens,
    LlmCostUsd: nanoToUsd(entry.costNanoUsd),
    ...(entry.rebilled ? { RebilledCalls: 1 } : {}),
  });
  await runtime.ledger.addUsage(entry);
}

/** The step's model, the fallback and its completion limit. */
function modelsOf(config: RuntimeConfig, step: string) {
  const { model, maxOutputTokens } = stepSettings(config, step);
  return { model, fallbackModel: config.fallbackModel, maxOutputTokens };
}

/** The step's model while its breaker lets calls through; the fallback model while it does not. */
async function chooseModel(
  runtime: StageRuntime,
  { model, fallbackModel }: { model: string; fallbackModel: string | undefined },
  owner: string,
): Promise<{ model: string; breaker: CircuitBreaker; permit: BreakerPermit }> {
  const primary = runtime.breaker(model);
  try {
    return { model, breaker: primary, permit: await primary.acquire(owner) };
  } catch (error) {
    if (error instanceof BreakerOpenError) runtime.telemetry.dependency(model, { BreakerOpenWaits: 1 });
    if (!(error instanceof BreakerOpenError) || fallbackModel === undefined) throw error;
    const fallback = runtime.breaker(fallbackModel);
    const permit = await fallback.acquire(owner);
    runtime.logger.info('primary model unavailable: using the fallback model', { model, fallbackModel });
    return { model: fallbackModel, breaker: fallback, permit };
  }
}

async function settle(
  runtime: StageRuntime,
  breaker: CircuitBreaker,
  permit: BreakerPermit,
  limit: Reservation | undefined,
  spend: BudgetReservation | undefined,
  entry: CallEntry,
) {
  const [committedNano] = await Promise.all([
    spend ? runtime.budget.settle(spend, entry.costNanoUsd) : undefined,
    runtime.limiter.settle(limit, entry.promptTokens + entry.completionTokens, entry.promptTokens),
    breaker.onSuccess(permit),
  ]);
  if (committedNano !== undefined && runtime.budget.limitNano > 0) {
    runtime.telemetry.global({ BudgetUsedPercent: (100 * committedNano) / runtime.budget.limitNano });
  }
}

/**
 * The call failed: give back what it reserved, tell the breaker if the provider is at fault, honour a 429.
 * Returns the error to raise: a provider failure that leaves the breaker open is the provider's outage, not the
 * item's failure, so it becomes a wait (invariant 5) and no item is dead-lettered by an outage.
 */
async function failed(
  runtime: StageRuntime,
  breaker: CircuitBreaker,
  permit: BreakerPermit,
  limit: Reservation | undefined,
  spend: BudgetReservation | undefined,
  model: string,
  error: unknown,
): Promise<unknown> {
  const providerFault = error instanceof LlmCallError && error.isProviderFailure;
  const retryAfter = error instanceof LlmCallError && error.status === 429 ? (error.retryAfterMs ?? 1000) : undefined;
  // No call was made without the key: the secret's outage has its own metric (and alarm), not the provider's.
  if (error instanceof SecretUnavailableError) runtime.telemetry.count('SecretUnavailable');
  else runtime.telemetry.call(model, retryAfter === undefined ? { LlmErrors: 1 } : { LlmRateLimited: 1 });
  const advertised = error instanceof LlmCallError ? error.limits : undefined;
  const [, , , breakerState] = await Promise.all([
    spend ? runtime.budget.settle(spend, 0) : undefined,
    runtime.limiter.settle(limit, 0),
    retryAfter === undefined ? undefined : runtime.limiter.holdUntil(model, runtime.now() + retryAfter),
    providerFault ? breaker.onFailure(permit) : release(runtime, breaker, permit, undefined, undefined),
    advertised ? runtime.limiter.observe(model, advertised) : undefined,
  ]);
  if (breakerState === 'open') return new BreakerOpenError(model, breaker.cooldownMs, { cause: error });
  return error;
}

/** Gives back reservations made before a call that did not happen (or said nothing about the provider). */
async function release(
  runtime: StageRuntime,
  breaker: CircuitBreaker,
  permit: BreakerPermit,
  limit: Reservation | undefined,
  spend: BudgetReservation | undefined,
) {
  await Promise.all([
    spend ? runtime.budget.settle(spend, 0) : undefined,
    runtime.limiter.release(limit),
    breaker.release(permit),
  ]);
}

/** Tokens of the given calls (prompt and completion). */
function tokensOf(calls: readonly CallEntry[]): number {
  const total = sumUsage(calls);
  return total.promptTokens + total.completionTokens;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
