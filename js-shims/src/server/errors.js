// Errors a server function throws on purpose, and how anything it throws becomes an outcome
// (docs/SERVER.md "Errors"). The envelope, the status and the masking of a 500's message are the
// kernel's; this file only names the codes.

/** The wire codes and their statuses (the kernel's; listed so a typo fails at the throw). */
export const PROTOCOL_CODES = Object.freeze({
  NOT_FOUND: 404,
  BAD_REQUEST: 400,
  VALIDATION_ERROR: 422,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_IMPLEMENTED: 501,
  INTERNAL_ERROR: 500,
  PAYLOAD_TOO_LARGE: 413,
  METHOD_NOT_ALLOWED: 405,
});

/** Throw it from a function to answer with that error: `throw new ProtocolError('NOT_FOUND', 'No such item')`. */
export class ProtocolError extends Error {
  constructor(code, message = '', details = undefined) {
    const wire = typeof code === 'string' ? code.toUpperCase().replaceAll('-', '_') : code;
    if (!Object.hasOwn(PROTOCOL_CODES, wire)) {
      throw new TypeError(`unknown protocol code ${String(code)}: one of ${Object.keys(PROTOCOL_CODES).join(', ')}`);
    }
    super(message ? `${wire}: ${message}` : wire);
    this.name = 'ProtocolError';
    this.code = wire;
    this.protocolMessage = message;
    this.details = details;
  }

  /** The error as the engine takes it (`Engine.finishCall`'s `{error}`). */
  toOutcomeError() {
    return this.details === undefined || this.details === null
      ? { code: this.code, message: this.protocolMessage }
      : { code: this.code, message: this.protocolMessage, details: this.details };
  }
}

export class NotFound extends ProtocolError {
  constructor(message = 'Not found', details = undefined) {
    super('NOT_FOUND', message, details);
  }
}

export class BadRequest extends ProtocolError {
  constructor(message = 'Bad request', details = undefined) {
    super('BAD_REQUEST', message, details);
  }
}

export class Unauthorized extends ProtocolError {
  constructor(message = 'Authentication required', details = undefined) {
    super('UNAUTHORIZED', message, details);
  }
}

export class Forbidden extends ProtocolError {
  constructor(message = 'Permission denied', details = undefined) {
    super('FORBIDDEN', message, details);
  }
}

/** A 501; an empty message is the kernel's "Not implemented". */
export class NotImplemented extends ProtocolError {
  constructor(message = '', details = undefined) {
    super('NOT_IMPLEMENTED', message, details);
  }
}

/** A 422 with `{fields: {name: [message]}}`, as the engine's own validation answers. */
export class ValidationFailed extends ProtocolError {
  constructor(fields, message = 'Input validation failed') {
    super('VALIDATION_ERROR', message, { fields });
  }
}

/** A thrown value as the text the kernel logs: the stack when there is one (it reaches only the log). */
export function thrownText(error) {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : `thrown: ${String(error)}`;
}

/**
 * What a function's throw answers: a `ProtocolError` is its answer; anything else is a failure
 * someone must look at (the kernel logs the text), answered 500 without leaking it.
 */
export function thrownOutcome(error) {
  return error instanceof ProtocolError ? { error: error.toOutcomeError() } : { exception: thrownText(error) };
}
