/** Names that become folder names (node, app, version) must not escape a folder or hide in a listing. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}$/;

/** The names nameProblem accepts, as one pattern (SAFE_NAME without '..'), for schemas that need a regex. */
export const SAFE_NAME_PATTERN = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}$/;

/** Returns why `name` is unsafe as a node, app or version name, or undefined when it is safe. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'expected a string';
  if (name === '') return 'must not be empty';
  if (name.includes('/') || name.includes('\\')) return 'must not contain a slash';
  if (name.includes('..')) return "must not contain '..'";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'must not contain control characters';
  if (!SAFE_NAME.test(name)) {
    return 'must start with a letter or digit and use only letters, digits and . _ + @ - (at most 128 characters)';
  }
  return undefined;
}

/** Throws a specific error when `name` is unsafe; `what` names the field, e.g. "app". */
export function assertSafeName(what: string, name: string): void {
  const problem = nameProblem(name);
  if (problem) throw new Error(`invalid ${what} name ${JSON.stringify(name)}: ${problem}`);
}
