/**
 * The one cancellation error: an analysis the server abandons (a newer edit, a budget), a fleet
 * simulation the user cancels, an index build stopped by its signal. `what` says which.
 */
export class CancelledError extends Error {
  constructor(what: string) {
    super(`${what} cancelled`);
    this.name = 'CancelledError';
  }
}
