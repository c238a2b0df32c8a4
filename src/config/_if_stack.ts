/**
 * Tracks nested `if`/`elif`/`else`/`endif` blocks of one configuration
 * source and whether the current line is enabled.
 *
 * @module
 */

interface Block {
  /** Line of the `if`, for "missing endif". */
  readonly line: number;
  /** Every enclosing block is enabled. */
  readonly parentEnabled: boolean;
  /** Lines of the current branch are read. */
  enabled: boolean;
  /** Some branch so far was taken, so later ones are not. */
  taken: boolean;
  seenElse: boolean;
}

/** The if-blocks open at the current line. */
export class IfStack {
  readonly #blocks: Block[] = [];

  /** True when lines at this point are read rather than skipped. */
  get enabled(): boolean {
    return this.#blocks.length === 0 || this.#blocks[this.#blocks.length - 1].enabled;
  }

  /** True inside at least one block. */
  get inside(): boolean {
    return this.#blocks.length > 0;
  }

  /** Line of the innermost open `if`, if any. */
  get openLine(): number | undefined {
    return this.#blocks[this.#blocks.length - 1]?.line;
  }

  /**
   * Opens a block. `condition` is evaluated only when the block could be
   * enabled, so conditions in skipped text never raise errors.
   */
  beginIf(line: number, condition: () => boolean): void {
    const parentEnabled = this.enabled;
    const value = parentEnabled && condition();
    this.#blocks.push({ line, parentEnabled, enabled: value, taken: value, seenElse: false });
  }

  /** Starts an `elif` branch; returns a reason when it is out of place. */
  beginElif(condition: () => boolean): string | undefined {
    const block = this.#blocks[this.#blocks.length - 1];
    if (!block) return "elif without matching if";
    if (block.seenElse) return "elif is not allowed after else";
    const value = block.parentEnabled && !block.taken && condition();
    block.enabled = value;
    block.taken ||= value;
    return undefined;
  }

  /** Starts the `else` branch; returns a reason when it is out of place. */
  beginElse(): string | undefined {
    const block = this.#blocks[this.#blocks.length - 1];
    if (!block) return "else without matching if";
    if (block.seenElse) return "else is not allowed after else";
    block.seenElse = true;
    block.enabled = block.parentEnabled && !block.taken;
    block.taken = true;
    return undefined;
  }

  /** Closes the innermost block; returns a reason when none is open. */
  end(): string | undefined {
    return this.#blocks.pop() ? undefined : "endif without matching if";
  }
}
