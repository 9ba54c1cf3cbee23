import { createHash } from 'node:crypto';
import { stableJson } from '../stable-json.js';
import type { AppIntent } from './schema.js';

/**
 * The digest a reality record names to say which intent it answers: sha256 (hex) of the app's intent as validated
 * (validateAppIntent's result, defaults filled in) in stable JSON (keys sorted). Equal content gives an equal
 * digest whatever the key order or spacing of the stored text, so a writer (pp) can compute it from its spec.
 */
export function intentDigest(intent: AppIntent): string {
  return createHash('sha256').update(stableJson(intent)).digest('hex');
}
