import type { CallStage, SimResponse } from '../pipeline.ts';
import type { FaultRecorder } from '../stats.ts';
import { type OpenAiErrorBody, openAiError } from '../wire.ts';

/**
 * Injected error statuses: with the configured probability a call is answered with an HTTP error and the
 * provider's error body for it, after the model's usual latency (the provider failed while working on it).
 */

/**
 * Picks a status, or none, for each call from one seeded draw.
 * @example
 * const errors = new ErrorRatePolicy({ 500: 0.02, 503: 0.01 }, seededRandom(7));
 * errors.pick(); // 500, 503 or undefined
 */
export class ErrorRatePolicy {
  #bands: readonly { status: number; upTo: number }[] = [];
  readonly #random: () => number;

  constructor(rates: Readonly<Record<number, number>>, random: () => number) {
    this.#random = random;
    this.setRates(rates);
  }

  /** Statuses are laid out in ascending order on [0, 1), so a given seed maps to the same statuses every run. */
  setRates(rates: Readonly<Record<number, number>> = {}): void {
    let upTo = 0;
    this.#bands = Object.entries(rates)
      .map(([status, rate]) => ({ status: Number(status), rate }))
      .filter(({ rate }) => rate > 0)
      .sort((a, b) => a.status - b.status)
      .map(({ status, rate }) => {
        upTo += rate;
        return { status, upTo };
      });
  }

  /** One draw per call, whatever the rates, so changing them does not shift later decisions. */
  pick(): number | undefined {
    const draw = this.#random();
    return this.#bands.find((band) => draw < band.upTo)?.status;
  }
}

/**
 * The provider's error body for a status.
 * @example injectedError(500, 'gpt-4o-mini').body.error.type // 'server_error'
 */
function injectedError(status: number, model: string): SimResponse {
  const headers: Record<string, string> = status === 429 ? { 'retry-after': '1', 'retry-after-ms': '1000' } : {};
  return { status, body: errorBody(status, model), headers };
}

function errorBody(status: number, model: string): OpenAiErrorBody {
  switch (status) {
    case 400:
      return openAiError('Invalid request: the request could not be processed as sent.', 'invalid_request_error');
    case 401:
      return openAiError(
        'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
        'invalid_request_error',
        null,
        'invalid_api_key',
      );
    case 403:
      return openAiError(
        'Country, region, or territory not supported',
        'request_forbidden',
        null,
        'unsupported_country_region_territory',
      );
    case 404:
      return openAiError(
        `The model \`${model}\` does not exist or you do not have access to it.`,
        'invalid_request_error',
        null,
        'model_not_found',
      );
    case 409:
      return openAiError('The request conflicted with another request being processed.', 'invalid_request_error');
    case 422:
      return openAiError('The request was well-formed but could not be processed.', 'invalid_request_error');
    case 429:
      return openAiError(
        `Rate limit reached for ${model} on requests per min (RPM). Please try again in 1s.`,
        'requests',
        null,
        'rate_limit_exceeded',
      );
    case 500:
      return openAiError('The server had an error while processing your request. Sorry about that!', 'server_error');
    case 502:
      return openAiError('Bad gateway.', 'server_error', null, 'bad_gateway');
    case 503:
      return openAiError('The server is overloaded or not ready yet.', 'server_error');
    case 504:
      return openAiError('The server did not answer in time. Please try again.', 'server_error', null, 'timeout');
    default:
      return status < 500
        ? openAiError(`The request could not be processed (HTTP ${status}).`, 'invalid_request_error')
        : openAiError(`The server could not complete the request (HTTP ${status}).`, 'server_error');
  }
}

/**
 * Answers the calls the policy picks with their error, after `waitLatency` (the model's latency).
 * @example errorRateStage(policy, (signal) => delay(nextLatency(), signal, clock), stats)
 */
export function errorRateStage(
  policy: ErrorRatePolicy,
  waitLatency: (signal: AbortSignal) => Promise<void>,
  recorder: FaultRecorder,
): CallStage {
  return async (call, next) => {
    const status = policy.pick();
    if (status === undefined) return next();
    await waitLatency(call.signal);
    recorder.errorServed(status);
    return injectedError(status, call.request.model);
  };
}
