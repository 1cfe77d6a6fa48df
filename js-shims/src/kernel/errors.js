// The error every kernel call throws (and the client's kernel-side refusals).

/** A kernel error: `code` is one of the WIT `error-code` names, or `"trap"`. */
export class MizanKernelError extends Error {
  constructor(code, message, details = null, options = undefined) {
    super(message, options);
    this.name = 'MizanKernelError';
    this.code = code;
    this.details = details;
  }
}

/** A WIT `error` record (`{code, message, details?}`, details as JSON text) as a MizanKernelError. */
export function kernelError(record) {
  const { code, message, details } = record;
  return new MizanKernelError(code, message, details === undefined || details === null ? null : JSON.parse(details));
}
