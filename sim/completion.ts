import type { ChatCompletion } from 'openai/resources/chat/completions';
import { answerFor } from './generators/formats.ts';
import { stableId } from './hash.ts';
import type { CallHandler, PlannedAnswer } from './pipeline.ts';
import { CHARS_PER_TOKEN, countCompletionTokens } from './tokens.ts';
import type { ChatCompletionRequest } from './wire.ts';

/**
 * The last stage: generates the answer and wraps it in the provider's `chat.completion` object. An answer
 * longer than the caller's token limit is cut, as a provider cuts it, and reported as `finish_reason: 'length'`.
 */

/**
 * The answer a request gets, cut to the caller's token limit.
 * @example planAnswer({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }, 5).finishReason
 */
export function planAnswer(request: ChatCompletionRequest, maxCompletionTokens: number | undefined): PlannedAnswer {
  const format = request.response_format?.type === 'json_schema' ? request.response_format.json_schema : undefined;
  const answer = answerFor(format?.name, request.messages, format?.schema);
  const completionTokens = countCompletionTokens(answer.content);
  if (maxCompletionTokens !== undefined && completionTokens > maxCompletionTokens) {
    return {
      format: answer.format,
      content: answer.content.slice(0, maxCompletionTokens * CHARS_PER_TOKEN),
      completionTokens: maxCompletionTokens,
      finishReason: 'length',
    };
  }
  return { format: answer.format, content: answer.content, completionTokens, finishReason: 'stop' };
}

/**
 * The handler that answers a call with its planned completion.
 * @example composeStages([], completionHandler({ seed: 1 }))
 */
export function completionHandler(options: { seed: number }): CallHandler {
  return async (call) => {
    const { request } = call;
    const { format, content, completionTokens, finishReason } = call.answer();

    const body: ChatCompletion = {
      id: stableId('chatcmpl-', `${options.seed}:${call.sequence}`, 29),
      object: 'chat.completion',
      created: Math.floor(call.receivedAt / 1000),
      model: request.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content, refusal: null, annotations: [] },
          finish_reason: finishReason,
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: call.promptTokens,
        completion_tokens: completionTokens,
        total_tokens: call.promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
      service_tier: 'default',
      system_fingerprint: 'fp_sluice_sim',
    };
    return {
      status: 200,
      body,
      headers: {},
      completion: { format, finishReason, promptTokens: call.promptTokens, completionTokens },
    };
  };
}
