/**
 * An ASCII table in the format the seed's `mirrord operator status` output shows (the
 * prettytable default): `+---+` borders, one space of padding, left-aligned, a separator line
 * between rows, and multi-line cells spread over several text lines of one row.
 */
const width = (s: string): number => [...s].length;

export function renderTable(header: string[], rows: string[][]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => c.split('\n')));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => Math.max(...(r[i] ?? ['']).map(width)))));
  const sep = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const out: string[] = [sep];
  for (const row of cells) {
    const height = Math.max(...row.map((c) => c.length));
    for (let line = 0; line < height; line++) {
      out.push(
        `|${row.map((c, i) => ` ${(c[line] ?? '') + ' '.repeat(widths[i]! - width(c[line] ?? ''))} `).join('|')}|`,
      );
    }
    out.push(sep);
  }
  return out.join('\n') + '\n';
}
