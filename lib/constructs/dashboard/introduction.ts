import { TextWidget } from 'aws-cdk-lib/aws-cloudwatch';
import type { DashboardRow } from './dashboard-row.ts';

/**
 * The dashboard's opening text: how to read it and where the runbook is.
 * @example addIntroduction(row, 'docs/runbook.md');
 */
export function addIntroduction({ monitoring, pipeline }: DashboardRow, runbookUrl: string): void {
  const runbook = /^https?:/.test(runbookUrl)
    ? `[the runbook](${runbookUrl})`
    : `the runbook (\`${runbookUrl}\` in the repository)`;
  monitoring.addWidget(
    new TextWidget({
      markdown: [
        '# sluice',
        'Read top-down: **pipeline flow**, **queues** and their DLQs, **functions**, **LLM calls**, **token economics**, ' +
          `**degraded and re-billed** items${pipeline.supervisor === undefined ? '' : ', **self-healing** (the supervisor)'}. Every alarm notifies the alarm topic; what each means and what to do is in ${runbook}.`,
      ].join('\n\n'),
      width: 24,
      height: 3,
    }),
    false,
    false,
  );
}
