/**
 * Build events, as the Rust core serializes them (`depot_build::events::wire`): objects tagged by
 * `type`, with camelCase keys (the Python package has the same fields in snake_case). Times are
 * milliseconds since the Unix epoch; durations are milliseconds.
 */

/** A step was announced; it has not started. */
export interface VertexQueued {
  type: 'vertex_queued'
  /** The step's digest (`depot:<name>` for depot's own steps). */
  vertex: string
  /** The step's name, e.g. `[2/2] RUN make`. */
  name: string
}

/** A step started (or started again). */
export interface VertexStarted {
  type: 'vertex_started'
  vertex: string
  name: string
  startedMs: number
}

/** A step finished successfully. */
export interface VertexCompleted {
  type: 'vertex_completed'
  vertex: string
  name: string
  durationMs: number
}

/** A step's result came from the cache. */
export interface VertexCached {
  type: 'vertex_cached'
  vertex: string
  name: string
}

/** A step failed, or was canceled. */
export interface VertexErrored {
  type: 'vertex_errored'
  vertex: string
  name: string
  error: string
  durationMs: number
  canceled: boolean
}

/** A chunk of a step's output (a line may be split across chunks). */
export interface Log {
  type: 'log'
  vertex: string
  stream: 'stdout' | 'stderr'
  text: string
  atMs: number
}

/** A sub-task of a step progressed (a transfer, a layer, an export). */
export interface Progress {
  type: 'progress'
  vertex: string
  id: string
  name: string
  current: number
  total: number | null
  startedMs: number | null
  atMs: number
  completed: boolean
}

/** A build warning, e.g. from the Dockerfile linter. */
export interface Warning {
  type: 'warning'
  vertex: string
  level: number
  short: string
  detail: string[]
  url: string | null
}

/** What any build event may also carry. */
export interface InTarget {
  /** The bake target the event belongs to; absent for builds, and for a bake's own steps. */
  target?: string
}

/** One change in a build (or bake). */
export type BuildEvent = InTarget &
  (
    | VertexQueued
    | VertexStarted
    | VertexCompleted
    | VertexCached
    | VertexErrored
    | Log
    | Progress
    | Warning
  )

/**
 * Progress of a registry transfer (`pull`, `push`, `copy`), as the Rust core serializes it
 * (`depot_registry::client::ProgressEvent`): `target` is the destination (a registry image, a
 * layout directory, the Docker Engine's image), `digest` the blob.
 */
export type RegistryProgress =
  | { type: 'blob_started'; target: string; digest: string; size: number | null }
  | { type: 'blob_progress'; target: string; digest: string; current: number; total: number | null }
  | { type: 'blob_status'; target: string; digest: string; status: string }
  | {
      type: 'blob_done'
      target: string
      digest: string
      size: number | null
      /** Already there, mounted from another repository of the registry, or copied. */
      transfer: 'present' | 'mounted' | 'copied'
    }
  | { type: 'manifest'; target: string; digest: string }
  | { type: 'message'; target: string; text: string }
