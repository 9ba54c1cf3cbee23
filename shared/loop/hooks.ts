import type { NodeIntent } from '../intent/node-intent.js';
import type { AppOutcome } from './types.js';

/** How one applied action ended: it changed something, found nothing to change, threw, or was cut short by a stop. */
export type ActionEnd = 'changed' | 'unchanged' | 'failed' | 'cut-short';

/**
 * What the loop tells whoever watches it (metrics, /healthz, the Consul check), synchronously and without
 * waiting for them: a hook must return at once and never throw. All optional.
 */
export interface LoopHooks {
  /** The watch delivered intent whose content differs from the last one. */
  intentChanged?(intent: NodeIntent): void;
  /** The store answered a watch request (`err` undefined), or failed to. */
  watched?(err?: unknown): void;
  /** A pass ended. `observeError`: the host could not be observed; `realityError`: its reality was not written. */
  passDone?(pass: { outcomes: AppOutcome[]; seconds: number; observeError?: string; realityError?: string }): void;
  /** One action ended; `kind` is the action's `kind` field (bounded); `app` is absent for a node-wide action. */
  actionDone?(action: { app?: string; kind: string; end: ActionEnd; seconds: number }): void;
  /** The loop has stopped (a clean stop): its last outcomes. */
  stopped?(outcomes: AppOutcome[]): void;
}
