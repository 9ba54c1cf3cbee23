import { DEPLOY_EXIT } from '../../shared/exit-codes.js';

/**
 * How `pp deploy`, `resume`, `rollback` or `follow` ended, as the orchestrator (run.ts) reports it; the command layer
 * turns it into the exit code (deployExitCode). The outcomes a record keeps, and three that leave none: `dry-run`,
 * `declined` at the prompt, `nothing-to-do`. A lost lock and bad input are thrown (CliError, with their code).
 */
export interface DeployEnd {
  outcome: 'succeeded' | 'failed' | 'reverted' | 'timed-out' | 'interrupted' | 'dry-run' | 'declined' | 'nothing-to-do';
  /** Some node was left as it was: its intent changed under the deploy, or it was skipped (nothing to do). */
  leftAlone?: boolean;
}

/** The exit code of `end` (README, "Exit codes of pp deploy"). */
export function deployExitCode(end: DeployEnd): number {
  switch (end.outcome) {
    case 'succeeded':
    case 'nothing-to-do':
      return end.leftAlone ? DEPLOY_EXIT.changed : DEPLOY_EXIT.ok;
    case 'dry-run':
      return DEPLOY_EXIT.ok;
    case 'declined':
      return DEPLOY_EXIT.declined;
    case 'failed':
    case 'reverted':
      return DEPLOY_EXIT.versionFailed;
    case 'timed-out':
      return DEPLOY_EXIT.timeout;
    case 'interrupted':
      return DEPLOY_EXIT.interrupted;
  }
}
