import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderTable, terminalSafe } from '#cli/text-table.ts';
import type { ItemChain } from '#ops/item-chain.ts';
import { LlmCallError } from '#shared/errors.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { jsonOf, runCli, writeLocalOutputs } from './operator-support.ts';

const ESC = String.fromCharCode(0x1b);
const BEL = String.fromCharCode(0x07);
/** Clears the screen. */
const CLEAR = `${ESC}[2J`;
/** Sets the window title (OSC 0). */
const TITLE = `${ESC}]0;you have been owned${BEL}`;
/** Writes the clipboard (OSC 52): 'rm -rf ~' in base64. */
const CLIPBOARD = `${ESC}]52;c;cm0gLXJmIH4=${BEL}`;
/** A one-character CSI (C1), and a right-to-left override that reorders what follows. */
const C1_AND_BIDI = `${String.fromCharCode(0x9b)}31m\u202Egnp.exe`;
const BIDI_CONTROLS = [0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069];
/** The code points in `text` a terminal would act on: C0 but for the line feed, DEL, C1, bidi controls. */
const unsafeIn = (text: string) =>
  [...text]
    .map((char) => char.codePointAt(0) ?? 0)
    .filter((code) => (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f) || BIDI_CONTROLS.includes(code))
    .map((code) => `U+${code.toString(16).padStart(4, '0')}`);

describe('Function: terminalSafe', () => {
  it('writes every control character out as an inert escape, and keeps line breaks only in blocks', () => {
    // Act
    const line = terminalSafe(`a${CLEAR}b\nc\r${C1_AND_BIDI}`);
    const block = terminalSafe(`a${TITLE}\nb\tc`, { multiline: true });

    // Assess
    expect(line).toBe('a\\x1b[2Jb\\x0ac\\x0d\\x9b31m\\u202egnp.exe');
    expect(block).toBe('a\\x1b]0;you have been owned\\x07\nb\\x09c');
  });

  it('keeps a table aligned when a cell holds control characters', () => {
    // Act
    const lines = renderTable(
      ['id', 'n'],
      [
        [`x${ESC}[2J`, '1'],
        ['plain', '22'],
      ],
      ['left', 'right'],
    );

    // Assess
    expect(lines).toEqual(['id         n', 'x\\x1b[2J   1', 'plain     22']);
  });
});

describe('Commands: human output of item data holding terminal escapes', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  const title = `Breaking ${CLEAR}${TITLE} news ${C1_AND_BIDI}`;
  const body = `Example Corp opened an office in Berlin on Tuesday.\n${CLIPBOARD}The company said so ${CLEAR}in a statement.`;
  const error = `upstream said ${CLIPBOARD}${TITLE}`;

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-terminal-safety-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    // One failed attempt whose error carries escapes, then the item goes through: its last error is kept.
    pipeline.llm.failWhen((request) =>
      request.itemId === 'evil-1' ? new LlmCallError(error, { status: 500, retryable: true }) : undefined,
    );
    await pipeline.invoke('extract', [JSON.stringify({ id: 'evil-1', title, body })]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'evil-1' })]);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sluice show prints the title, body and error with their escapes written out', async () => {
    // Act
    const run = await runCli(['show', 'evil-1', '--full', '--outputs', outputs]);

    // Assess: nothing a terminal would act on, and the operator still sees what was there
    expect(run.code).toBe(0);
    expect(unsafeIn(run.stdout)).toEqual([]);
    expect(run.stdout).toContain(
      'title        Breaking \\x1b[2J\\x1b]0;you have been owned\\x07 news \\x9b31m\\u202egnp.exe',
    );
    expect(run.stdout).toContain('    \\x1b]52;c;cm0gLXJmIH4=\\x07The company said so \\x1b[2Jin a statement.');
    expect(run.stdout).toContain('last error: LlmCallError in extract');
    expect(run.stdout).toContain('upstream said \\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b]0;you have been owned\\x07');
  });

  it('sluice show --json keeps the data exactly', async () => {
    // Act
    const chain = jsonOf<ItemChain>(await runCli(['show', 'evil-1', '--json', '--outputs', outputs]));

    // Assess
    expect(chain.item.input?.title).toBe(title);
    expect(chain.item.input?.body).toBe(body);
    expect(chain.item.lastError?.message).toBe(error);
  });

  it('an error naming a hostile argument is written out too', async () => {
    // Act
    const run = await runCli(['show', `x${TITLE}`, '--outputs', outputs]);

    // Assess
    expect(run.code).not.toBe(0);
    expect(unsafeIn(run.stderr)).toEqual([]);
    expect(run.stderr).toContain('\\x1b]0;you have been owned\\x07');
  });
});
