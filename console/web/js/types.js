// @ts-check
/**
 * The API's payloads as the pages read them. Written by hand: the server's types come from modules that need
 * Node's types, which have no place in the browser's program.
 */

/**
 * `GET /api/pipeline`.
 * @typedef {object} PipelineShape
 * @property {readonly string[]} itemStates
 * @property {readonly string[]} stages
 * @property {Readonly<Record<string, string>>} laneLabels
 */

export {};
