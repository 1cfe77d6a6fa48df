// The one error type every transport produces and every client promise rejects with, and its
// translation into the shapes the kernel store's `fetch-err` / `call-err` take. Which errors are
// retried is the store's decision (network errors and 5xx), not this file's.

/**
 * A request that did not succeed: a network failure (`network: true`, `status: null`), an error
 * response (`status`: the HTTP status; `code`, `message`, `details` from the protocol's
 * `{"error": {...}}` envelope) or an IPC error (`status: null`, bare `{code, message, details?}`).
 * `code` is the portable field: the same on every transport.
 */
export class MizanRequestError extends Error {
  constructor({ code, message, details = null, status = null, network = false, body = null } = {}, options = undefined) {
    super(typeof message === 'string' && message ? message : 'Request failed', options);
    this.name = 'MizanRequestError';
    this.code = typeof code === 'string' && code ? code : network ? 'NETWORK_ERROR' : 'REQUEST_FAILED';
    this.details = details ?? null;
    this.status = typeof status === 'number' ? status : null;
    this.network = Boolean(network);
    /** The parsed response body of an HTTP error, when it had one. */
    this.body = body ?? null;
  }

  /** Plain data (for a message channel). */
  toJSON() {
    const out = { code: this.code, message: this.message, details: this.details, status: this.status, network: this.network };
    if (this.body !== null) out.body = this.body;
    return out;
  }
}

/** Anything a transport threw, as a MizanRequestError (foreign errors count as network failures). */
export function asRequestError(e) {
  if (e instanceof MizanRequestError) return e;
  if (e && typeof e === 'object' && !(e instanceof Error) && typeof e.code === 'string' && typeof e.message === 'string') {
    // A bare protocol error ({code, message, details?}), or one that crossed a channel as data.
    return new MizanRequestError(e);
  }
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new MizanRequestError({ network: true, message }, { cause: e });
}

/** The error as `fetch-err` / `call-err` take it. The kernel reads the envelope itself. */
export function toStoreError(e) {
  const err = asRequestError(e);
  if (err.network) return { network: true, message: err.message };
  if (err.status !== null) {
    const b = err.body;
    if (b && typeof b === 'object' && b.error && typeof b.error === 'object') return { status: err.status, body: b };
    const out = { status: err.status, code: err.code, message: err.message };
    if (err.details !== null) out.details = err.details;
    return out;
  }
  const out = { code: err.code, message: err.message };
  if (err.details !== null) out.details = err.details;
  return out;
}

/** A kernel error record (`{code, message, details?}` from a snapshot or a mutation) as an error. */
export function fromStoreError(e, extra = {}) {
  if (!e) return null;
  return new MizanRequestError({ code: e.code, message: e.message, details: e.details ?? null, ...extra });
}
