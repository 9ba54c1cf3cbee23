import { readFile as readFileCallback } from 'node:fs';
import { promisify } from 'node:util';

/**
 * fs.readFile through its callback API, with the same signature as fs/promises' readFile. For small files it is
 * several times faster (measured here: 1,000 intent files in 23–30 ms against 96–149 ms), because it does not
 * go through a FileHandle; a pass over a 1,000-app node reads thousands of small files.
 */
export const readFile = promisify(readFileCallback);
