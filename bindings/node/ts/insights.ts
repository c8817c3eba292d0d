/** What Depot's public API tells about builds, usage and project tokens: the shapes of
 * `Client.getBuild`, `listBuilds`, `buildSteps`, `buildStepLogs`, `usage`, `projectUsage` and
 * the token calls (the same fields as the Python package's, camelCased). */

/** A build as the public API summarizes it. */
export interface BuildSummary {
  buildId: string
  status: 'running' | 'success' | 'failed' | 'error' | 'canceled' | 'unknown'
  createdAt: Date | null
  /** When its first step started. */
  startedAt: Date | null
  finishedAt: Date | null
  buildDurationSeconds: number | null
  /** What its cached steps took when they last ran in the project. */
  savedDurationSeconds: number | null
  cachedSteps: number | null
  totalSteps: number | null
}

/** One step of a build. */
export interface BuildStep {
  /** Its name (`[2/3] RUN make`). */
  name: string
  /** Its vertex digest: pass it to `buildStepLogs`. */
  digest: string
  startedAt: Date | null
  completedAt: Date | null
  /** Whether it came from the cache. */
  cached: boolean
  /** Why it failed. */
  error: string | null
  hasLogs: boolean
}

/** One line a step printed. */
export interface LogLine {
  message: string
  timestamp: Date | null
}

/** A period for usage (either end defaults to the server's current month). */
export interface UsageOptions {
  /** The project, for `projectUsage` (default: the client's). */
  project?: string
  start?: Date
  end?: Date
}

/** Usage of every project the token administers. */
export interface Usage {
  periodStart: Date | null
  periodEnd: Date | null
  containerBuilds: Array<{
    projectName: string
    buildCount: number
    minutesSaved: number
    minutesBilled: number
  }>
  /** Storage by kind (`layer_cache`), in GB. */
  storage: Array<{ storageType: string; totalGb: number }>
}

/** One project's builds in a period. */
export interface ProjectUsage {
  projectId: string
  buildCount: number
  buildDurationSeconds: number
  /** The project's layer cache, in whole GB. */
  layerCacheSizeGb: number
}

/** A project token (its secret is shown only when it is created). */
export interface ProjectToken {
  tokenId: string
  description: string
}

/** A new project token and its secret, which is not shown again. */
export interface CreatedToken {
  tokenId: string
  secret: string
}

/** @internal `value` with its millisecond time fields (`…At`, `timestamp`, `periodStart`,
 * `periodEnd`) as `Date`s. */
export function withDates<T>(value: Record<string, unknown>): T {
  const converted: Record<string, unknown> = { ...value }
  for (const [key, field] of Object.entries(value)) {
    if (/(At|^timestamp|^periodStart|^periodEnd)$/.test(key)) {
      converted[key] = typeof field === 'number' ? new Date(field) : null
    }
  }
  return converted as T
}
