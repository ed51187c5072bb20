import * as z from 'zod';

/** The JSON the doctor finds inside attributes and environment variables, read without throwing. */

/**
 * The parsed JSON, or undefined when there is none or it is not JSON.
 * @example parseJson(configuration.Environment?.Variables?.SLUICE_RUNTIME_CONFIG);
 */
export function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A queue's `RedrivePolicy` attribute, or undefined when it has none (or one without a target).
 * @example parseRedrivePolicy(attributes.RedrivePolicy)?.deadLetterTargetArn;
 */
export function parseRedrivePolicy(text: string | undefined): { deadLetterTargetArn: string } | undefined {
  const parsed = z.object({ deadLetterTargetArn: z.string() }).safeParse(parseJson(text));
  return parsed.success ? parsed.data : undefined;
}
