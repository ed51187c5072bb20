import { readFileSync } from 'node:fs';
import { type IntakeItem, intakeItemSchema } from '#shared/schemas.ts';

/** The sample file as lines of parsed JSON, and the items among them that pass the intake schema. */
export interface SampleFile {
  /** Every line, parsed but not validated. */
  lines: unknown[];
  valid: IntakeItem[];
}

const SAMPLES_URL = new URL('../../samples/items.jsonl', import.meta.url);

/** Reads `samples/items.jsonl`; validation is the caller's business, that is what the samples exercise. */
export function readSampleFile(): SampleFile {
  const lines = readFileSync(SAMPLES_URL, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line): unknown => JSON.parse(line));
  const valid = lines.flatMap((line) => {
    const parsed = intakeItemSchema.safeParse(line);
    return parsed.success ? [parsed.data] : [];
  });
  return { lines, valid };
}
