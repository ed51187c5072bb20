// @ts-check
/**
 * What the pages name and filter by (the item states, the stages and each lane's label), read once from the
 * server at start so that the pages keep no copies of the pipeline's own lists.
 */

import { api } from './api.js';

/** @typedef {import('./types.js').PipelineShape} PipelineShape */

/** @type {PipelineShape | undefined} */
let shape;

/**
 * Reads the pipeline's shape from `GET /api/pipeline`; the pages need it before they draw.
 * @returns {Promise<PipelineShape>}
 * @example await loadPipeline(); pipeline().itemStates // ['RECEIVED', ...]
 */
export async function loadPipeline() {
  shape = /** @type {PipelineShape} */ (await api('/api/pipeline'));
  return shape;
}

/**
 * The shape loadPipeline read.
 * @returns {PipelineShape}
 * @throws {Error} before loadPipeline has answered.
 * @example pipeline().laneLabels.extract // 'intake DLQ → intake queue'
 */
export function pipeline() {
  if (shape === undefined) throw new Error('the pipeline shape is not loaded yet (loadPipeline)');
  return shape;
}
