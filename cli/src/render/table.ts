/**
 * ASCII tables. `mirrord` is the format the seed's `mirrord operator status` output shows (the
 * prettytable default): `+---+` borders, one space of padding, left-aligned, a rule line between
 * rows; kept only where the plugin copies one of mirrord's own tables (the sessions table, the
 * queue tables), so scripts written for mirrord read ours. Every other table is `compact`: the
 * same borders, a rule under the header and at the end only, so a long listing (audit) is one
 * text line per row. Multi-line cells spread over several text lines of one row in both.
 */
export type TableStyle = 'compact' | 'mirrord';

const width = (s: string): number => [...s].length;

export function renderTable(header: string[], rows: string[][], style: TableStyle = 'compact'): string {
  const cells = [header, ...rows].map((r) => r.map((c) => c.split('\n')));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => Math.max(...(r[i] ?? ['']).map(width)))));
  const sep = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const out: string[] = [sep];
  cells.forEach((row, n) => {
    const height = Math.max(...row.map((c) => c.length));
    for (let line = 0; line < height; line++) {
      out.push(
        `|${row.map((c, i) => ` ${(c[line] ?? '') + ' '.repeat(widths[i]! - width(c[line] ?? ''))} `).join('|')}|`,
      );
    }
    if (style === 'mirrord' || n === 0 || n === cells.length - 1) out.push(sep);
  });
  return out.join('\n') + '\n';
}
