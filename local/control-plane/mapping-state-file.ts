import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as z from 'zod';
import type { MappingSettings } from './mapping-settings.ts';

/**
 * The file in which the event source mappings' changes made through the API survive a restart, and how a kept
 * change meets a template that may have changed since.
 */

const persistedSettingsSchema = z.object({
  enabled: z.boolean(),
  batchSize: z.number().int(),
  maximumBatchingWindowSeconds: z.number(),
  maximumConcurrency: z.number().int().nullable(),
});
const persistedStateSchema = z.record(
  z.string(),
  z.object({ template: persistedSettingsSchema, settings: persistedSettingsSchema, lastModifiedMs: z.number() }),
);
export type PersistedSettings = z.infer<typeof persistedSettingsSchema>;

/** Each mapping's kept settings, by UUID, with what the template said when they were kept. */
export type PersistedMappings = z.infer<typeof persistedStateSchema>;

/**
 * Settings as the file keeps them: JSON has no undefined, so no cap is `null`.
 * @example toPersisted({ enabled: true, batchSize: 10, maximumBatchingWindowSeconds: 0, maximumConcurrency: undefined })
 */
export function toPersisted(settings: MappingSettings): PersistedSettings {
  return { ...settings, maximumConcurrency: settings.maximumConcurrency ?? null };
}

/**
 * A setting changed through the API is kept while the template still says what it said when it was changed.
 * @example mergeKept(template, kept.template, kept.settings)
 */
export function mergeKept(
  template: MappingSettings,
  keptTemplate: PersistedSettings,
  kept: PersistedSettings,
): MappingSettings {
  const keep = <K extends keyof MappingSettings>(
    key: K,
    keptValue: MappingSettings[K],
    keptBase: MappingSettings[K],
  ) => (template[key] === keptBase ? keptValue : template[key]);
  return {
    enabled: keep('enabled', kept.enabled, keptTemplate.enabled),
    batchSize: keep('batchSize', kept.batchSize, keptTemplate.batchSize),
    maximumBatchingWindowSeconds: keep(
      'maximumBatchingWindowSeconds',
      kept.maximumBatchingWindowSeconds,
      keptTemplate.maximumBatchingWindowSeconds,
    ),
    maximumConcurrency: keep(
      'maximumConcurrency',
      kept.maximumConcurrency ?? undefined,
      keptTemplate.maximumConcurrency ?? undefined,
    ),
  };
}

/**
 * The kept state, or nothing when there is no file yet.
 * @throws {Error} naming the file when it is not a state file of this kind.
 * @example const kept = await readStateFile(file);
 */
export async function readStateFile(file: string): Promise<PersistedMappings> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const parsed = persistedStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(`${file} is not a state file of the local Lambda control API; delete it to start afresh`);
  }
  return parsed.data;
}

/**
 * Writes the state beside the file and renames it over, so a crash never leaves half a file.
 * @example await writeStateFile(file, { [uuid]: { template, settings, lastModifiedMs } });
 */
export async function writeStateFile(file: string, state: PersistedMappings): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, `${JSON.stringify(state, null, 2)}\n`, 'utf8');
  await rename(partial, file);
}
