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

/**
 * `GET /api/status`: what `sluice status --json` prints (the fields the board reads).
 * @typedef {object} StatusSnapshot
 * @property {string} stack
 * @property {'local' | 'aws'} target
 * @property {string} source
 * @property {string} at
 * @property {{ total: number, byState: Readonly<Record<string, number>> }} items
 * @property {QueueStatus[]} queues
 * @property {EventSourceStatus[]} eventSources
 * @property {SupervisorOutlook} supervisor
 * @property {BreakerStatus[]} breakers
 * @property {LimiterStatus[]} limiters
 * @property {DaySummary} today
 * @property {{ checked: boolean, note?: string, inAlarm: { name: string, reason: string, since: string }[] }} alarms
 */

/**
 * @typedef {object} QueueStatus
 * @property {string} queue
 * @property {number} visible
 * @property {number} inFlight
 * @property {number} delayed
 * @property {number | null} oldestAgeSeconds
 * @property {string} [oldestAgeNote]
 */

/**
 * @typedef {object} EventSourceStatus
 * @property {string} stage
 * @property {string | null} state
 * @property {boolean | null} enabled
 * @property {number | null} maxConcurrency
 * @property {string} [note]
 * @property {{ paused: boolean, by: string, reason?: string, at: string } | null} control
 * @property {{ lastAction?: { action: string, at: string, detail: string }, lookedAt?: string }} [supervisor]
 */

/**
 * @typedef {object} SupervisorOutlook
 * @property {'waiting' | 'looking' | 'overdue' | 'off' | 'unknown'} state
 * @property {string | null} since
 * @property {string | null} lastLookAt
 * @property {string | null} nextLookAt
 * @property {string} [note]
 */

/**
 * @typedef {object} BreakerStatus
 * @property {string} dependency
 * @property {string} state
 * @property {number} failures
 * @property {number} opens
 * @property {string} [openUntil]
 */

/**
 * @typedef {object} LimiterStatus
 * @property {string} model
 * @property {number} [rpm]
 * @property {number} [tpm]
 * @property {string} [heldUntil]
 * @property {number} requestsAheadMs
 * @property {number} tokensAheadMs
 */

/**
 * @typedef {object} UsageLine
 * @property {string} stage
 * @property {string} model
 * @property {number} calls
 * @property {number} promptTokens
 * @property {number} completionTokens
 * @property {number} costUsd
 * @property {number} rebilledCalls
 */

/**
 * @typedef {object} DaySummary
 * @property {string} day
 * @property {number} calls
 * @property {number} promptTokens
 * @property {number} completionTokens
 * @property {number} costUsd
 * @property {number} rebilledCalls
 * @property {UsageLine[]} byStageAndModel
 * @property {{ limitUsd: number | null, spentUsd: number, reservedUsd: number, usedShare: number | null }} budget
 */

/**
 * `GET /api/items`: the matching items, newest first.
 * @typedef {object} ItemList
 * @property {ItemSummary[]} items
 * @property {number} total
 * @property {boolean} truncated
 */

/**
 * @typedef {object} ItemSummary
 * @property {string} itemId
 * @property {string} state
 * @property {string} stage
 * @property {boolean} degraded
 * @property {string} [errorClass]
 * @property {number} [attempts]
 * @property {string} updatedAt
 * @property {string} [title]
 */

/**
 * `GET /api/dead-letters`: the dead-lettered items by stage and error class, largest group first.
 * @typedef {object} DeadLetterGroups
 * @property {DeadLetterGroup[]} groups
 * @property {number} total
 */

/**
 * @typedef {object} DeadLetterGroup
 * @property {string} stage
 * @property {string} errorClass
 * @property {number} count
 * @property {{ itemId: string, message: string, stack?: string }} sample
 * @property {string[]} itemIds
 */

/**
 * A lane's part of a redrive: messages moved (or to move) by error class.
 * @typedef {object} LaneOutcome
 * @property {string} lane
 * @property {Readonly<Record<string, number>>} [moved]
 */

/**
 * `POST /api/redrive`: what `sluice redrive --json` prints.
 * @typedef {RedriveTasks | RedriveMoves} RedriveReport
 */

/**
 * A redrive by SQS message move tasks.
 * @typedef {{ mode: 'move-task', tasks: MoveTaskOutcome[] }} RedriveTasks
 */

/**
 * A redrive message by message, or its dry run.
 * @typedef {{ mode: 'moved' | 'dry-run', moved: number, left: number, failed: number, lanes: LaneOutcome[] }} RedriveMoves
 */

/**
 * @typedef {object} MoveTaskOutcome
 * @property {string} lane
 * @property {number} depth
 * @property {string} [status]
 * @property {number} [approximateToMove]
 * @property {string} [failure]
 */

/**
 * `POST /api/reenrich`: what `sluice reenrich --json` prints.
 * @typedef {object} ReenrichReport
 * @property {number} found
 * @property {number} sent
 * @property {string[]} itemIds
 */

/**
 * `GET /api/items/:id`: what `sluice show ID --json` prints.
 * @typedef {object} ItemChain
 * @property {ItemRecord} item
 * @property {DraftRound[]} drafts
 * @property {{ generation: number, degraded: boolean, related: { itemId: string, title: string }[] }[]} memory
 * @property {CallLine[]} calls
 * @property {{ calls: number, promptTokens: number, completionTokens: number, costUsd: number, rebilledCalls: number }} totals
 */

/**
 * The item's record in the state table (the fields the item page shows).
 * @typedef {object} ItemRecord
 * @property {string} itemId
 * @property {string} state
 * @property {number} version
 * @property {string} createdAt
 * @property {string} updatedAt
 * @property {string[]} [degraded]
 * @property {{ title: string, body: string, url?: string, source?: string, author?: string, publishedAt?: string }} [input]
 * @property {string} [rawInput]
 * @property {unknown} [knowledge]
 * @property {{ publishedAt: string, publicationId: string, revision: number, approved: boolean }} [publication]
 * @property {{ extract?: number, draft?: number }} [attempts]
 * @property {number} [deferrals]
 * @property {Failure} [lastError]
 * @property {Failure} [deadLetter]
 * @property {{ state: string, at: string }[]} [history]
 */

/**
 * @typedef {object} Failure
 * @property {string} errorClass
 * @property {string} stage
 * @property {number} attempts
 * @property {string} at
 * @property {string} message
 * @property {string} [stack]
 */

/**
 * @typedef {object} DraftRound
 * @property {number} generation
 * @property {number} revision
 * @property {{ title: string, markdown: string }} [draft]
 * @property {{ feedback: string, unsupportedClaims?: string[] }} [review]
 * @property {'accepted' | 'rejected' | 'not reviewed'} verdict
 * @property {boolean} published
 */

/**
 * @typedef {object} CallLine
 * @property {string} stage
 * @property {string} step
 * @property {number} n
 * @property {string} model
 * @property {number} promptTokens
 * @property {number} completionTokens
 * @property {number} costUsd
 * @property {number} latencyMs
 * @property {string} outcome
 * @property {boolean} rebilled
 * @property {string} at
 */

/**
 * `GET /api/economics`: tokens and dollars per day, stage and model, with the budget of every day.
 * @typedef {object} EconomicsReport
 * @property {string} since
 * @property {string} until
 * @property {string[]} days
 * @property {EconomicsPoint[]} series
 * @property {{ day: string, limitUsd: number | null, committedUsd: number, spentUsd: number }[]} budget
 * @property {number} costUsd
 * @property {number} publishedItems
 * @property {number | null} costPerPublishedItemUsd
 * @property {number} rebilledCalls
 */

/**
 * @typedef {object} EconomicsPoint
 * @property {string} stage
 * @property {string} model
 * @property {string} day
 * @property {number} promptTokens
 * @property {number} completionTokens
 * @property {number} costUsd
 * @property {number} calls
 * @property {number} rebilledCalls
 */

/**
 * `GET /api/costs`: what `sluice costs --json` prints.
 * @typedef {object} CostsReport
 * @property {string} since
 * @property {string} until
 * @property {'stage' | 'model' | 'day'} by
 * @property {CostRow[]} rows
 * @property {CostRow} totals
 */

/**
 * @typedef {object} CostRow
 * @property {string} key
 * @property {number} calls
 * @property {number} promptTokens
 * @property {number} completionTokens
 * @property {number} tokens
 * @property {number} costUsd
 * @property {number} usdPerCall
 * @property {number} tokensPerCall
 * @property {number} rebilledCalls
 */
