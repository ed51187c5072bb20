import { DRAFT_STAGE } from './draft/stage.ts';
import { EXTRACT_STAGE } from './extract/stage.ts';
import { definePipeline } from './shared/pipeline.ts';

/**
 * The pipeline sluice ships: intake → extract → draft → published. Adding a stage is its folder (stage.ts,
 * handler.ts, index.ts, its prompts and schemas) and one entry here; docs/architecture.md walks through it.
 */
export const PIPELINE = definePipeline([EXTRACT_STAGE, DRAFT_STAGE]);

/** The names of the shipped pipeline's stages, in order: the benchmarks measure exactly these two. */
export const SHIPPED_STAGES = [EXTRACT_STAGE.name, DRAFT_STAGE.name] as const;
export type ShippedStage = (typeof SHIPPED_STAGES)[number];
