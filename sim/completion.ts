import type { ChatCompletion } from 'openai/resources/chat/completions';
import { answerFor } from './generators/formats.ts';
import { stableId } from './hash.ts';
import type { CallHandler } from './pipeline.ts';
import { CHARS_PER_TOKEN, countCompletionTokens } from './tokens.ts';

/**
 * The last stage: generates the answer and wraps it in the provider's `chat.completion` object. An answer
 * longer than the caller's token limit is cut, as a provider cuts it, and reported as `finish_reason: 'length'`.
 */

/**
 * The handler that answers a call with a generated completion.
 * @example composeStages([], completionHandler({ seed: 1 }))
 */
export function completionHandler(options: { seed: number }): CallHandler {
  return async (call) => {
    const { request } = call;
    const formatName =
      request.response_format?.type === 'json_schema' ? request.response_format.json_schema.name : undefined;
    const answer = answerFor(formatName, request.messages);

    let content = answer.content;
    let completionTokens = countCompletionTokens(content);
    let finishReason: 'stop' | 'length' = 'stop';
    const limit = call.maxCompletionTokens;
    if (limit !== undefined && completionTokens > limit) {
      content = content.slice(0, limit * CHARS_PER_TOKEN);
      completionTokens = limit;
      finishReason = 'length';
    }

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
      completion: { format: answer.format, finishReason, promptTokens: call.promptTokens, completionTokens },
    };
  };
}
