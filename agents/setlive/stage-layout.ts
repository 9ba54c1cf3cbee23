import { join } from 'node:path';
import type { SetliveConfig } from './options.js';

/** Name of the file in an app's stage folder that records which install last passed its health check. */
export const CONFIRMED_FILE = 'pp-confirmed';

/** `<stageDir>/<app>`: the app's runit service folder. */
export function stagePath(config: SetliveConfig, app: string): string {
  return join(config.stageDir, app);
}

/** `<serviceDir>/<app>`: the link runsvdir sees. */
export function serviceLinkPath(config: SetliveConfig, app: string): string {
  return join(config.serviceDir, app);
}
