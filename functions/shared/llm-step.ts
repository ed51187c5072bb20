import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { z } from 'zod';
import { type CallEntry, costNanoUsd, sumUsage } from './call-ledger.ts';
import { DeadlineError, InvalidOutputError, ItemBudgetExceededError } from './errors.ts';
import type { ItemSession } from './item-claim.ts';
import { estimatePromptTokens } from './llm-client.ts';
import type { Stage } from './runtime-config.ts';
import type { StageRuntime } from './stage-runtime.ts';

/**
 * One LLM step of an item, paid for at most once: a stored valid response is reused; otherwise the call is
 * made, written to the ledger the moment it returns, added to the day's totals, and only then validated.
 */

/** The invocation's clock: how long until the function is stopped, and the signal that fires just before. */
export interface Invocation {
  remainingMs(): number;
  signal?: AbortSignal | undefined;
}

/** Time kept back after a call for the checkpoint and queue writes that must follow it. */
export const CHECKPOINT_MARGIN_MS = 3000;
/** A call given less time than this would likely be paid for and then cut off. */
export const MIN_CALL_MS = 2000;

export interface LlmStep<T> {
  stage: Stage;
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
 * const { value } = await runLlmStep(runtime, session, calls, 0, invocation, { stage: 'extract', name: 'knowledge', messages, format });
 */
export async function runLlmStep<T>(
  runtime: StageRuntime,
  session: ItemSession,
  calls: CallEntry[],
  tokensBefore: number,
  invocation: Invocation,
  step: LlmStep<T>,
): Promise<StepResult<T>> {
  const stored = calls.find((call) => call.step === step.name && call.outcome === 'ok');
  if (stored !== undefined) {
    const reused = step.format.schema.safeParse(parseJson(stored.content));
    if (reused.success) return { value: reused.data, call: stored, paid: false };
  }

  const { config } = runtime;
  const model = config.model;
  const used = tokensBefore + tokensOf(calls);
  const worstCase = estimatePromptTokens(step.messages) + config.maxOutputTokens;
  if (used + worstCase > config.itemTokenBudget) {
    throw new ItemBudgetExceededError(
      `${step.name} could take ${worstCase} tokens; the item has used ${used} of its ${config.itemTokenBudget}`,
    );
  }
  const remaining = invocation.remainingMs() - CHECKPOINT_MARGIN_MS;
  if (remaining < MIN_CALL_MS) {
    throw new DeadlineError(
      `only ${remaining + CHECKPOINT_MARGIN_MS} ms left: ${step.name} is left for the next delivery`,
    );
  }

  const completion = await runtime.llm.complete({
    itemId: session.item.itemId,
    step: step.name,
    model,
    messages: step.messages,
    format: step.format,
    maxTokens: config.maxOutputTokens,
    timeoutMs: Math.min(config.llm.timeoutMs, remaining),
    signal: invocation.signal,
  });
  const parsed = step.format.schema.safeParse(parseJson(completion.content));
  const price = config.prices[completion.model] ?? config.prices[model];
  const entry: CallEntry = {
    itemId: session.item.itemId,
    stage: step.stage,
    step: step.name,
    n: calls.filter((call) => call.step === step.name).length,
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
    context: step.context,
  };
  // A concurrent writer can only have taken `n` if a lease was lost; keep our paid call under the next free n.
  while (!(await runtime.ledger.record(entry))) entry.n += 1;
  calls.push(entry);
  await runtime.ledger.addUsage(entry);

  if (!parsed.success) {
    const why =
      completion.finishReason === 'length'
        ? `truncated at ${config.maxOutputTokens} tokens`
        : parsed.error.issues
            .slice(0, 3)
            .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
            .join('; ');
    throw new InvalidOutputError(`${step.name} output from ${completion.model} is not valid: ${why}`);
  }
  return { value: parsed.data, call: entry, paid: true };
}

/** Tokens of the given calls (prompt and completion). */
export function tokensOf(calls: readonly CallEntry[]): number {
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
