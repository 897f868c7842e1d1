/**
 * The one line splitter: bytes in any chunking, lines out at each `\n` (without it). Only the
 * unfinished line's pieces are kept, joined once when its newline arrives (joining on every chunk
 * would cost the square of a long line's length); splitting bytes, not decoded text, keeps a UTF-8
 * character cut between two chunks whole.
 */
const NEWLINE = 0x0a;

export class LineSplitter {
  private carry: Buffer[] = [];

  /** True while a line has begun and its newline has not come yet. */
  get pending(): boolean {
    return this.carry.length > 0;
  }

  /** Hand each complete line of `chunk` (the first joined with what was carried) to `onLine`. */
  push(chunk: Buffer, onLine: (line: Buffer) => void): void {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.carry.length > 0) {
        this.carry.push(piece);
        onLine(Buffer.concat(this.carry));
        this.carry = [];
      } else onLine(piece);
      start = nl + 1;
    }
    // Copied: the caller may reuse its buffer for the next chunk.
    if (start < chunk.length) this.carry.push(Buffer.from(chunk.subarray(start)));
  }

  /** The unfinished last line (the input ended without a newline), if there is one. */
  end(): Buffer | undefined {
    const rest = this.carry.length > 0 ? Buffer.concat(this.carry) : undefined;
    this.carry = [];
    return rest;
  }
}
