import { createStageHandler } from '#shared/stage-handler.ts';
import type { StageRuntime } from '#shared/stage-runtime.ts';
import { draftRecord } from './draft.ts';

/** The Lambda handler of the draft stage: instrumentation only; the work is in draft.ts. */
export const createHandler = (runtime: StageRuntime) => createStageHandler(runtime, draftRecord);
