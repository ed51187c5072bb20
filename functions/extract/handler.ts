import { createStageHandler } from '#shared/stage-handler.ts';
import type { StageRuntime } from '#shared/stage-runtime.ts';
import { extractRecord } from './extract.ts';

/** The Lambda handler of the extract stage: instrumentation only; the work is in extract.ts. */
export const createHandler = (runtime: StageRuntime) => createStageHandler(runtime, extractRecord);
