/**
 * When the language server stops unexpectedly the client restarts it, at most
 * `max` times within `windowMs`, and says so each time; past that it stays
 * stopped and says how to start it again. Free of `vscode` so the unit tests
 * hold it.
 */
export interface RestartDecision {
  restart: boolean;
  message: string;
}

export class RestartPolicy {
  private crashes: number[] = [];

  constructor(
    readonly max = 3,
    readonly windowMs = 3 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The server's connection closed without a shutdown: restart or not, and what to tell the user. */
  onClosed(): RestartDecision {
    const t = this.now();
    this.crashes = this.crashes.filter((c) => t - c < this.windowMs);
    this.crashes.push(t);
    const n = this.crashes.length;
    const window = `${Math.round(this.windowMs / 60_000)} minutes`;
    if (n <= this.max) return { restart: true, message: `The Livepatch Lens server stopped unexpectedly; restarting it (${n} of ${this.max} restarts within ${window}). The output channel "Livepatch Lens" has its log.` };
    return { restart: false, message: `The Livepatch Lens server stopped ${n} times within ${window}; it is not restarted again. See the output channel "Livepatch Lens", then run "Livepatch: Restart Server".` };
  }

  /** A restart the user asked for starts the count again. */
  reset(): void {
    this.crashes = [];
  }
}
