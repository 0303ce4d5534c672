/**
 * Answers matched to requests by order alone (file responses, legacy outgoing `Connect`): the
 * client takes each answer as the one for its oldest unanswered request, so an answer the
 * gateway makes itself waits behind the requests forwarded before it that the agent has not
 * answered yet.
 */
export class OrderedAnswers {
  /** In request order: `null` for a request the agent answers, bytes for one answered here. */
  readonly #slots: Array<Uint8Array | null> = [];

  /** The gateway answers the next request itself: the frames to send now (none while the agent owes answers). */
  answer(frames: readonly Uint8Array[]): Uint8Array[] {
    if (this.#slots.length === 0) return [...frames];
    this.#slots.push(...frames);
    return [];
  }

  /** A request went to the agent: its answer takes the next place. */
  forwarded(): void {
    this.#slots.push(null);
  }

  /** The agent answered: that answer, then the gateway's answers queued behind it. */
  agentAnswered(frame: Uint8Array): Uint8Array[] {
    const out = [frame];
    if (this.#slots[0] === null) this.#slots.shift();
    while (this.#slots.length > 0 && this.#slots[0] !== null) out.push(this.#slots.shift()!);
    return out;
  }
}
