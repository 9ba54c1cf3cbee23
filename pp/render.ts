/** How pp prints tables and ages, written once so every command's output lines up the same way. */

/** Rows as aligned columns, two spaces apart, with no trailing blanks; the first row is usually the header. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => row[i]?.length ?? 0))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** An age in whole seconds, short enough for a table cell or a monitoring line: 90s, 15m, 2h. */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}

/** Whole seconds from the ISO time `at` to `now` (ms since the epoch); 0 for a time in the future or unreadable. */
export function secondsSince(at: string, now: number): number {
  return Math.max(0, Math.round((now - Date.parse(at)) / 1000)) || 0;
}
