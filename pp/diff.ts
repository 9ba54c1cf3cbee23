import { stableJson } from '../shared/stable-json.js';

function lines(json: string | undefined): string[] {
  if (json === undefined) return [];
  try {
    return JSON.stringify(JSON.parse(stableJson(JSON.parse(json))), null, 2).split('\n');
  } catch {
    return json.split('\n');
  }
}

/** A unified-style line diff of two intent JSON texts (keys sorted), empty when they mean the same. */
export function diffIntent(stored: string | undefined, proposed: string): string {
  const a = lines(stored);
  const b = lines(proposed);
  // Longest common subsequence table: intents are small, so O(n·m) is fine.
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) out.push(`- ${a[i++]}`);
    else out.push(`+ ${b[j++]}`);
  }
  return out.some((l) => !l.startsWith('  ')) ? `${out.join('\n')}\n` : '';
}
