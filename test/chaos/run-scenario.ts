import { type ChaosReport, runChaos } from '#local/chaos/runner.ts';
import { loadScenario } from '#local/chaos/scenario.ts';

/**
 * Runs one of the bundled scenarios (chaos/scenarios/<name>.json) through the real runner.
 * @example const report = await runScenario('crashes');
 */
export async function runScenario(name: string): Promise<ChaosReport> {
  const scenario = await loadScenario(new URL(`../../chaos/scenarios/${name}.json`, import.meta.url).pathname);
  return runChaos(scenario);
}

/** The failed checks with the records of the items behind them: what a failing test should print. */
export function failedChecks(report: ChaosReport) {
  return report.checks
    .filter((check) => !check.ok)
    .map((check) => ({ ...check, evidence: report.evidence[check.name] ?? [] }));
}
