import { type SluiceConfig, stageConfigOf } from '#lib/config.ts';
import type { RunEvidence } from '../evidence.ts';
import { type Finding, sumOf, usd } from './finding.ts';

/** Limits hold at the provider: concurrency, requests and tokens per minute, and the daily budget. */

export function maxConcurrentCallsCheck({ config, pipeline, input }: RunEvidence): Finding {
  const stageConcurrency = pipeline.stages.map((stage) => stageConfigOf(config, stage.name).maxConcurrency);
  const semaphore = stageConcurrency.reduce((sum, count) => sum + count, 0);
  const maxConcurrent = input.simulator?.maxConcurrent ?? 0;
  return {
    name: 'maxConcurrentCalls',
    ok: maxConcurrent <= semaphore,
    observed: maxConcurrent,
    limit: semaphore,
    detail: `most LLM calls in flight at once at the provider, against the stages' maxConcurrency (${stageConcurrency.join(' + ')})`,
  };
}

export function maxRpmCheck({ config, input }: RunEvidence): Finding {
  return limitCheck('maxRpm', 'rpm', config, input.simulator?.maxRpmInAnyWindowByModel ?? {});
}

export function maxTpmCheck({ config, input }: RunEvidence): Finding {
  return limitCheck('maxTpm', 'tpm', config, input.simulator?.maxTpmInAnyWindowByModel ?? {});
}

function limitCheck(
  name: string,
  kind: 'rpm' | 'tpm',
  config: SluiceConfig,
  observedByModel: Readonly<Record<string, number>>,
): Finding {
  const limited = Object.entries(config.limits).filter(([, limits]) => limits[kind] !== undefined);
  if (limited.length === 0) {
    const most = Math.max(0, ...Object.values(observedByModel));
    return { name, ok: true, observed: most, limit: null, detail: `no ${kind} limit configured` };
  }
  const rows = limited.map(([model, limits]) => {
    const limit = limits[kind] ?? 0;
    const observed = observedByModel[model] ?? 0;
    return { model, limit, observed, ratio: observed / limit };
  });
  const worst = rows.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  return {
    name,
    ok: rows.every((row) => row.observed <= row.limit),
    observed: worst.observed,
    limit: worst.limit,
    detail: `most ${kind === 'rpm' ? 'requests' : 'tokens'} the provider admitted in any 60-second window: ${rows.map((row) => `${row.model} ${row.observed}/${row.limit}`).join(', ')}`,
  };
}

/** No day's spend passes the daily budget, by the ledger, the day totals or the budget record. */
export function spendCheck({ config, budgets, calls, usage }: RunEvidence): Finding {
  const limitNano = Math.round(config.dailyBudgetUsd * 1e9);
  const days = new Set([
    ...budgets.map((record) => record.day),
    ...calls.map((call) => call.at.slice(0, 10)),
    ...usage.map((row) => row.day),
  ]);
  let worst = { day: '', nano: 0 };
  const lines: string[] = [];
  let ok = true;
  for (const day of [...days].sort()) {
    const budget = budgets.find((record) => record.day === day);
    const ledger = sumOf(
      calls.filter((call) => call.at.startsWith(day)),
      (call) => call.costNanoUsd,
    );
    const totals = sumOf(
      usage.filter((row) => row.day === day),
      (row) => row.costNanoUsd,
    );
    const most = Math.max(ledger, totals, budget?.spentNano ?? 0, budget?.committedNano ?? 0);
    if (most > limitNano) ok = false;
    if (most >= worst.nano) worst = { day, nano: most };
    lines.push(
      `${day}: ledger $${usd(ledger)}, day totals $${usd(totals)}, budget record spent $${usd(budget?.spentNano ?? 0)} committed $${usd(budget?.committedNano ?? 0)}`,
    );
  }
  return {
    name: 'spend',
    ok,
    observed: Number(usd(worst.nano)),
    limit: config.dailyBudgetUsd,
    detail: lines.length > 0 ? lines.join('; ') : 'nothing spent',
  };
}
