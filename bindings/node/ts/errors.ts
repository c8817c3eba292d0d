/**
 * Typed errors. The native module reports every failure as one JSON shape (see
 * `bindings/node/src/error.rs`); {@link fromNative} turns it into the matching subclass of
 * {@link DepotError}.
 */

/** The stable codes a {@link DepotError} can carry. */
export type ErrorCode =
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'invalid_argument'
  | 'already_exists'
  | 'failed_precondition'
  | 'unavailable'
  | 'resource_exhausted'
  | 'unimplemented'
  | 'build_failed'
  | 'canceled'
  | 'registry'
  | 'config'
  | 'internal'

/** Any failure of the SDK: `code` says what kind, `cause` chains to the underlying errors. */
export class DepotError extends Error {
  /** What kind of failure this is. */
  readonly code: ErrorCode
  /** The build the failure belongs to, when there is one. */
  readonly buildId: string | null

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; buildId?: string | null }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.buildId = options?.buildId ?? null
  }
}

/** The token is missing, invalid or expired (`unauthenticated`), or lacks a permission
 * (`permission_denied`). */
export class AuthError extends DepotError {}

/** What was named does not exist (`not_found`). */
export class NotFoundError extends DepotError {}

/** A build step failed (`build_failed`): `step` names it, `logs` holds its last lines and
 * `exitCode` its process's exit code. */
export class BuildFailed extends DepotError {
  /** The failing step, e.g. `[2/2] RUN make`. */
  readonly step: string | null
  /** The last lines the failing step wrote. */
  readonly logs: string[]
  /** The failed process's exit code, when a process failed. */
  readonly exitCode: number | null

  constructor(
    message: string,
    options: {
      cause?: unknown
      buildId?: string | null
      step: string | null
      logs: string[]
      exitCode?: number | null
    },
  ) {
    super('build_failed', message, options)
    this.step = options.step
    this.logs = options.logs
    this.exitCode = options.exitCode ?? null
  }
}

/** The build was canceled, by an `AbortSignal`, `cancel()` or the server (`canceled`). */
export class BuildCanceled extends DepotError {}

/** A registry refused or failed an operation (`registry`). */
export class RegistryError extends DepotError {}

/** Configuration is missing or unusable: no project, a bad config file (`config`). */
export class ConfigError extends DepotError {}

/** What the native module puts before the JSON of each error it throws. */
const MARKER = 'depot-rs-error:'

/** `depot_core::ErrorReport`, with camelCase keys: the same fields the Python package raises. */
interface NativeFailure {
  code: ErrorCode
  message: string
  causes: string[]
  step: string | null
  logs: string[]
  exitCode: number | null
  buildId: string | null
}

/** The error chain `causes` (outermost first) as nested `Error`s. */
function chain(causes: string[]): Error | undefined {
  let cause: Error | undefined
  for (const message of [...causes].reverse()) {
    cause = cause === undefined ? new Error(message) : new Error(message, { cause })
  }
  return cause
}

/** The {@link DepotError} for anything thrown by the native module. */
export function fromNative(error: unknown): DepotError {
  if (error instanceof DepotError) {
    return error
  }
  const text = error instanceof Error ? error.message : String(error)
  if (!text.startsWith(MARKER)) {
    return new DepotError('internal', text, { cause: error })
  }
  const failure = JSON.parse(text.slice(MARKER.length)) as NativeFailure
  const options = { cause: chain(failure.causes), buildId: failure.buildId }
  switch (failure.code) {
    case 'unauthenticated':
    case 'permission_denied':
      return new AuthError(failure.code, failure.message, options)
    case 'not_found':
      return new NotFoundError(failure.code, failure.message, options)
    case 'build_failed':
      return new BuildFailed(failure.message, {
        ...options,
        step: failure.step,
        logs: failure.logs,
        exitCode: failure.exitCode,
      })
    case 'canceled':
      return new BuildCanceled(failure.code, failure.message, options)
    case 'registry':
      return new RegistryError(failure.code, failure.message, options)
    case 'config':
      return new ConfigError(failure.code, failure.message, options)
    default:
      return new DepotError(failure.code, failure.message, options)
  }
}

/** Runs `call`, turning what it throws into a {@link DepotError}. */
export async function native<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw fromNative(error)
  }
}
