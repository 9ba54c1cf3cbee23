import type { NodePhaseState } from './follow.js';

/**
 * Shows a phase's progress: on a terminal a table redrawn in place (counts, then the nodes not done, slowest first);
 * otherwise one line when the counts change, or every `everyMs` while nothing does.
 */
export class Progress {
  private lastLine = '';
  private lastAt = 0;
  private drawn = 0;
  private readonly since = new Map<string, number>();

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly started: number,
    private readonly tty: boolean,
    private readonly everyMs = 5000,
  ) {}

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1).padStart(6)} s`;
  }

  line(phase: string, states: NodePhaseState[]): string {
    const count = (s: NodePhaseState['state']) => states.filter((x) => x.state === s);
    const busy = count('busy');
    const failed = count('failed');
    const doneWord = phase === 'stage' ? 'prepared' : phase === 'flip' ? 'live' : 'back';
    const parts = [
      `${doneWord} ${count('done').length}/${states.length}`,
      `in progress ${busy.length}`,
      `waiting ${count('waiting').length}`,
      `failed ${failed.length}`,
    ];
    const names = (list: NodePhaseState[]) =>
      list.length
        ? ` (${list
            .slice(0, 4)
            .map((s) => s.node)
            .join(' ')}${list.length > 4 ? ' …' : ''})`
        : '';
    return `[${this.elapsed()}] ${phase}: ${parts[0]}, ${parts[1]}${names(busy)}, ${parts[2]}, ${parts[3]}${names(failed)}`;
  }

  show(phase: string, states: NodePhaseState[]): void {
    const now = Date.now();
    for (const s of states) {
      const key = `${phase}/${s.node}`;
      if (s.state === 'done' || s.state === 'failed') this.since.delete(key);
      else if (!this.since.has(key)) this.since.set(key, now);
    }
    const line = this.line(phase, states);
    if (this.tty) {
      const open = states
        .filter((s) => s.state !== 'done')
        .sort((a, b) => (this.since.get(`${phase}/${a.node}`) ?? now) - (this.since.get(`${phase}/${b.node}`) ?? now))
        .slice(0, 8)
        .map(
          (s) =>
            `  ${s.node.padEnd(16)} ${s.state.padEnd(8)} ${Math.round((now - (this.since.get(`${phase}/${s.node}`) ?? now)) / 1000)} s  ${(s.note ?? '').slice(0, 80)}`,
        );
      const block = [line, ...open];
      this.out.write(`${this.drawn ? `\x1b[${this.drawn}F\x1b[J` : ''}${block.join('\n')}\n`);
      this.drawn = block.length;
      return;
    }
    const counts = line.slice(line.indexOf(']'));
    if (counts === this.lastLine && now - this.lastAt < this.everyMs) return;
    this.lastLine = counts;
    this.lastAt = now;
    this.out.write(`${line}\n`);
  }

  /** Ends a phase: the next phase starts a new block instead of redrawing this one. */
  end(): void {
    this.drawn = 0;
    this.lastLine = '';
  }
}
