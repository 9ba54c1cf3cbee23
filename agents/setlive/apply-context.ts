import type { FlipFleet } from './fleet.js';

/** What an action needs beyond its own fields: the fleet (slots, verdicts), the stop signal, a way to say why it waits. */
export interface ApplyContext {
  fleet?: FlipFleet;
  signal?: AbortSignal;
  waiting?: (reason: string) => void;
}
