import { runtimeFromEnvironment } from '#shared/stage-runtime.ts';
import { createHandler } from './handler.ts';

/** Lambda entry point: config and clients are built once per instance, at init. */
export const handler = createHandler(runtimeFromEnvironment(process.env));
