/**
 * Token counting as the simulator bills it. Real tokenizers average about four characters of English per
 * token, and the chat format adds a few tokens of framing per message and for priming the reply; this
 * approximation keeps `usage` realistic enough for budgets, rate limits and cost reports.
 */

/** Characters per token of the approximation. */
export const CHARS_PER_TOKEN = 4;
/** Framing tokens each message costs on top of its content (role, separators). */
const TOKENS_PER_MESSAGE = 4;
/** Tokens that prime the assistant's reply, charged once per request. */
const TOKENS_PER_REPLY = 3;

/** A chat message as far as token counting cares. */
export interface CountableMessage {
  role: string;
  content?: string | readonly { type: string; text?: string | undefined }[] | null | undefined;
  name?: string | undefined;
}

/**
 * Tokens of a piece of text (0 for the empty string).
 * @example countTextTokens('hello world') // 3
 */
export function countTextTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/**
 * Prompt tokens of a request: every message's content and name plus the chat framing.
 * @example countPromptTokens([{ role: 'user', content: 'Hello' }]) // 3 + 4 + 2 = 9
 */
export function countPromptTokens(messages: readonly CountableMessage[]): number {
  let tokens = TOKENS_PER_REPLY;
  for (const message of messages) {
    tokens += TOKENS_PER_MESSAGE + countTextTokens(messageText(message));
    if (message.name !== undefined) tokens += countTextTokens(message.name) + 1;
  }
  return tokens;
}

/**
 * Completion tokens of an answer; a provider never bills a completion as zero tokens.
 * @example countCompletionTokens('{"verdict":"accept"}') // 5
 */
export function countCompletionTokens(content: string): number {
  return Math.max(1, countTextTokens(content));
}

/**
 * The text of a message, whether its content is a string or a list of parts (non-text parts carry no text).
 * @example messageText({ role: 'user', content: [{ type: 'text', text: 'Hi' }] }) // 'Hi'
 */
export function messageText(message: CountableMessage): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}
