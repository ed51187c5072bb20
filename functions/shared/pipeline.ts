/**
 * The pipeline's shape as data: its stages in order, each with its input queue, its states, its LLM steps, its
 * defaults and its handler module. Everything that needs the shape (the stack, the stage runtime, the supervisor,
 * the local runtime, the CLI, the console, the progress view and the chaos checker) derives it from a
 * {@link Pipeline}, never from constants of its own. `functions/pipeline.ts` defines the one that ships.
 *
 * An item moves through the stages in order: it waits for a stage in the state the stage before it ended in
 * (the first stage's `RECEIVED`), works through the stage's working states, and ends in the stage's done state,
 * which for the last stage is `PUBLISHED`. DEAD_LETTER and DISCARDED are outside every stage.
 */

/** The state every item is created in: waiting for the first stage. */
export const RECEIVED = 'RECEIVED';
/** The state the last stage ends in: the item's event is on the published queue. */
export const PUBLISHED = 'PUBLISHED';
export const DEAD_LETTER = 'DEAD_LETTER';
export const DISCARDED = 'DISCARDED';
/** The lane of the published queue (the stages' lanes are their names). */
export const PUBLISHED_LANE = 'published';

/** Defaults of a stage's settings in `cdk.json` (`sluice.stages.<name>`). */
export interface StageDefaults {
  readonly model: string;
  readonly reservedConcurrency: number;
  readonly maxConcurrency: number;
  readonly batchSize: number;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly maxOutputTokens: number;
}

/** One kind of LLM call a stage makes; its model and output limit can be set apart from the stage's. */
export interface StepDefinition {
  /** Key under `stages.<stage>.steps` in the config, and the start of the ledger step names (`draft.0`). */
  readonly name: string;
  /** What the step produces, for the config's documentation. */
  readonly description: string;
}

export interface StageDefinition {
  /** Config key, the runtime config's `stage`, the ledger's and the CLI's name for the stage (its lane). */
  readonly name: string;
  /** As the console and the progress view label its lane. */
  readonly title: string;
  /** What the stage does, for the config's documentation. */
  readonly description: string;
  /** Prefix of its input queue's stack outputs (`<queueKey>QueueUrl`, `<queueKey>DeadLetterQueueUrl`, …). */
  readonly queueKey: string;
  /** Construct id of the stage in the stack, and prefix of its function's outputs (`<id>FunctionName`). */
  readonly constructId: string;
  /** Folder of the stage's code from the project root: `index.ts` (the Lambda entry) and `handler.ts` (`createHandler`). */
  readonly module: string;
  /**
   * States of an item while the stage works on it, in order; the first is the one a claim moves the item into.
   * The state it waits in is the previous stage's done state (or RECEIVED).
   */
  readonly working: readonly string[];
  /** The state it ends in; the last stage of a pipeline must end in PUBLISHED. */
  readonly done: string;
  readonly steps: readonly StepDefinition[];
  /** Whether it looks up related past items in the memory store (and so degrades when the store is down). */
  readonly usesMemory: boolean;
  /** Whether its items can be re-enriched (drafted again once memory is back); at most one stage. */
  readonly reenriches?: boolean;
  /** Default of `stages.<name>.maxRevisions` for a stage that redrafts after a rejected review. */
  readonly maxRevisions?: number;
  readonly defaults: StageDefaults;
}

/** The states one stage reads and writes, as its function's runtime config carries them. */
export interface StageStates {
  /** Where an item waits for the stage. */
  readonly ready: string;
  /** Where the stage works on it; the first is where a claim moves it. */
  readonly working: string[];
  readonly done: string;
  /** States before `ready`: a message for such an item has overtaken its own record. */
  readonly earlier: string[];
}

export interface Pipeline {
  readonly stages: readonly StageDefinition[];
  /** Every item state, in the order an item passes them, then DEAD_LETTER and DISCARDED. */
  readonly states: readonly string[];
  /** States no stage moves an item out of by itself. */
  readonly terminalStates: readonly string[];
  /** Every lane: each stage's input queue, then the published queue. */
  readonly lanes: readonly string[];
}

/** A pipeline that breaks the shape's rules: the message names the stage and the rule. */
export class PipelineDefinitionError extends Error {
  override readonly name = 'PipelineDefinitionError';
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const KEY = /^[A-Z][A-Za-z0-9]{0,31}$/;
const STATE = /^[A-Z][A-Z0-9_]{0,31}$/;

/**
 * Checks a pipeline's stages and derives its states and lanes.
 * @throws {PipelineDefinitionError} on a duplicate name, queue key, construct id or state, a stage with no working
 *   state or step, a last stage that does not end in PUBLISHED, or an earlier one that does.
 * @example const pipeline = definePipeline([EXTRACT_STAGE, DRAFT_STAGE]);
 */
export function definePipeline(stages: readonly StageDefinition[]): Pipeline {
  if (stages.length === 0) throw new PipelineDefinitionError('a pipeline needs at least one stage');
  const seen = { names: new Set<string>(), keys: new Set<string>(), ids: new Set<string>() };
  const states: string[] = [RECEIVED];
  for (const [index, stage] of stages.entries()) {
    const problem = (rule: string) => new PipelineDefinitionError(`stage ${JSON.stringify(stage.name)} ${rule}`);
    if (!NAME.test(stage.name)) throw problem('needs a name of lower-case letters, digits and dashes');
    if (stage.name === PUBLISHED_LANE) throw problem(`cannot be named ${PUBLISHED_LANE}: that is the published lane`);
    if (!KEY.test(stage.queueKey) || !KEY.test(stage.constructId)) {
      throw problem('needs a queueKey and a constructId in PascalCase');
    }
    if (stage.queueKey === 'Published') throw problem('cannot use the queue key Published');
    for (const [set, value, what] of [
      [seen.names, stage.name, 'name'],
      [seen.keys, stage.queueKey, 'queue key'],
      [seen.ids, stage.constructId, 'construct id'],
    ] as const) {
      if (set.has(value)) throw problem(`repeats the ${what} ${JSON.stringify(value)} of an earlier stage`);
      set.add(value);
    }
    if (stage.working.length === 0) throw problem('needs at least one working state');
    if (stage.steps.length === 0) throw problem('needs at least one LLM step');
    if (new Set(stage.steps.map((step) => step.name)).size !== stage.steps.length) throw problem('repeats a step');
    const last = index === stages.length - 1;
    if (last !== (stage.done === PUBLISHED)) {
      throw problem(
        last ? `is the last stage, so it must end in ${PUBLISHED}` : `ends in ${PUBLISHED} but is not last`,
      );
    }
    for (const state of [...stage.working, stage.done]) {
      if (!STATE.test(state)) throw problem(`has a state ${JSON.stringify(state)} not in UPPER_SNAKE_CASE`);
      if (states.includes(state) || state === DEAD_LETTER || state === DISCARDED) {
        throw problem(`repeats the state ${state}`);
      }
      states.push(state);
    }
  }
  if (stages.filter((stage) => stage.reenriches === true).length > 1) {
    throw new PipelineDefinitionError('at most one stage can re-enrich items');
  }
  return {
    stages,
    states: [...states, DEAD_LETTER, DISCARDED],
    terminalStates: [PUBLISHED, DEAD_LETTER, DISCARDED],
    lanes: [...stages.map((stage) => stage.name), PUBLISHED_LANE],
  };
}

/**
 * The stage of a pipeline by name.
 * @throws {PipelineDefinitionError} naming the stages there are.
 */
export function stageOf(pipeline: Pipeline, name: string): StageDefinition {
  const stage = pipeline.stages.find((candidate) => candidate.name === name);
  if (stage === undefined) {
    throw new PipelineDefinitionError(
      `no stage ${JSON.stringify(name)} in the pipeline (its stages: ${pipeline.stages.map((s) => s.name).join(', ')})`,
    );
  }
  return stage;
}

/** The states one stage reads and writes. */
export function stageStatesOf(pipeline: Pipeline, name: string): StageStates {
  const index = pipeline.stages.indexOf(stageOf(pipeline, name));
  const stage = pipeline.stages[index] as StageDefinition;
  const ready = index === 0 ? RECEIVED : (pipeline.stages[index - 1] as StageDefinition).done;
  return {
    ready,
    working: [...stage.working],
    done: stage.done,
    earlier: pipeline.states.slice(0, pipeline.states.indexOf(ready)),
  };
}

/** The stage after this one, or undefined for the last. */
export function nextStageOf(pipeline: Pipeline, name: string): StageDefinition | undefined {
  return pipeline.stages[pipeline.stages.indexOf(stageOf(pipeline, name)) + 1];
}

/** The lane an item in this state is in (the stage it waits for or is worked on by), or undefined when it is out of every lane. */
export function laneOfState(pipeline: Pipeline, state: string): string | undefined {
  if (state === PUBLISHED) return PUBLISHED_LANE;
  return pipeline.stages.find((stage) => {
    const states = stageStatesOf(pipeline, stage.name);
    return states.ready === state || states.working.includes(state);
  })?.name;
}

/** Output key prefix of a lane's queue: the stage's queue key, or Published. */
export function queueKeyOf(pipeline: Pipeline, lane: string): string {
  return lane === PUBLISHED_LANE ? 'Published' : stageOf(pipeline, lane).queueKey;
}

/** The stage whose items can be re-enriched, if any. */
export function reenrichingStageOf(pipeline: Pipeline): StageDefinition | undefined {
  return pipeline.stages.find((stage) => stage.reenriches === true);
}

/** Counts of items by state; a state with no items may be absent. */
export type StateCounts = Readonly<Record<string, number>>;

/** How many items the counts hold in these states. */
export function countIn(counts: StateCounts, states: readonly string[]): number {
  return states.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
}
