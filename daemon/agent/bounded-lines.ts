/**
 * Splits bytes from the guest into "\n"-terminated lines without ever holding
 * more than `maxBytes` of one line: the part of a longer line past `maxBytes`
 * is dropped as it arrives (the guest may send a line that never ends), and
 * the line is handed on once, cut, through `onCut`.
 */
export class BoundedLineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** Inside a line that was already cut: drop bytes until its newline. */
  private dropping = false;

  constructor(
    private readonly maxBytes: number,
    /** A whole line (UTF-8, without its "\n"). */
    private readonly onLine: (line: string) => void,
    /** The first `maxBytes` of a longer line (UTF-8; a character cut in two is replaced). */
    private readonly onCut: (head: string) => void,
  ) {}

  write(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      this.take(chunk.subarray(start, end));
      if (newline === -1) return;
      this.endLine();
      start = newline + 1;
    }
  }

  /** The input ended: a last line without "\n" is handed on too. */
  end(): void {
    if (this.size > 0 && !this.dropping) this.onLine(this.joined());
    this.reset();
  }

  private take(piece: Buffer): void {
    if (this.dropping || piece.length === 0) return;
    const room = this.maxBytes - this.size;
    if (piece.length <= room) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    this.parts.push(piece.subarray(0, room));
    this.size += room;
    this.onCut(this.joined());
    this.parts = [];
    this.size = 0;
    this.dropping = true;
  }

  private endLine(): void {
    if (!this.dropping) this.onLine(this.joined());
    this.reset();
  }

  private joined(): string {
    return Buffer.concat(this.parts, this.size).toString('utf8');
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
    this.dropping = false;
  }
}
