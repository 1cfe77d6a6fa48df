// The one error type every transport produces and every client promise rejects with. Which
// errors are retried, and what an answer means, is the kernel's decision (its client session),
// not this file's.

/**
 * A request that did not succeed: a network failure (`network: true`, `status: null`), an error
 * response (`status`: the HTTP status; `code`, `message`, `details` from the protocol's
 * `{"error": {...}}` envelope), an IPC error (`status: null`, bare `{code, message, details?}`)
 * or the client's own ending (`RESET`, `CLOSED`, `TRAP`). `code` is the portable field: the same
 * on every transport and every host.
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

/** The failure as the session's `failed` outcome takes it (JSON-ready; the kernel reads it). */
export function toStoreError(e) {
  return asRequestError(e).toJSON();
}

const parse = (text) => (text === undefined || text === null ? null : JSON.parse(text));

/** The session's `request-error` record as a MizanRequestError. */
export function fromRecord(r) {
  return new MizanRequestError({
    code: r.code,
    message: r.message,
    details: parse(r.detailsJson),
    status: r.status ?? null,
    network: r.network,
    body: parse(r.bodyJson),
  });
}
